"""[[webhooks]] in the configuration: the secret comes from the environment, the URL is checked."""

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings

SECRET_ENV = {"CAD_SECRET": "sixteen chars or more"}


def settings(tmp_path: Path, text: str, env=SECRET_ENV):
    path = tmp_path / "scenelink.toml"
    path.write_text(text)
    return load_settings(path, environ=env)


def test_an_endpoint_with_its_secret_from_the_environment(tmp_path):
    s = settings(
        tmp_path,
        '[[webhooks]]\nname = "cad"\nurl = "https://cad.example/hook"\nsecret_env = "CAD_SECRET"\nevents = ["fix"]\n',
    )
    (endpoint,) = s.webhooks
    assert (endpoint.name, endpoint.url, endpoint.secret, endpoint.events) == (
        "cad", "https://cad.example/hook", "sixteen chars or more", ("fix",),
    )
    assert "sixteen" not in repr(s), "the secret stays out of repr (and so out of logs)"


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ('url = "https://cad.example/hook"\nsecret_env = "NOPE"', SECRET_ENV, "NOPE must hold a secret"),
        ('url = "https://cad.example/hook"\nsecret_env = "CAD_SECRET"', {"CAD_SECRET": "short"}, "16 characters"),
        ('url = "http://cad.example/hook"\nsecret_env = "CAD_SECRET"', SECRET_ENV, "must be https"),
        ('url = "https://cad.example/hook"', SECRET_ENV, "secret_env"),
        (
            'url = "https://cad.example/hook"\nsecret_env = "CAD_SECRET"\nevents = ["everything"]',
            SECRET_ENV, "unknown events",
        ),
    ],
)
def test_unusable_endpoints_stop_the_gateway_with_the_reason(tmp_path, table, env, message):
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, f"[[webhooks]]\n{table}\n", env)


def test_plain_http_is_allowed_to_this_machine_only(tmp_path):
    s = settings(tmp_path, '[[webhooks]]\nurl = "http://127.0.0.1:9000/hook"\nsecret_env = "CAD_SECRET"\n')
    assert s.webhooks[0].name == "webhook-1"
