"""Choosing and configuring the provider from the TOML file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from gateway.sms import OutboxSender, RetryingSender, close_sender, make_sender
from gateway.sms.govuk_notify import NotifySender
from gateway.sms.twilio import TwilioSender

NOTIFY_KEY = "scenelink-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"
TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


def settings(tmp_path: Path, toml: str, **env: str):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    return load_settings(
        path, {"SCENELINK_DATA_DIR": str(tmp_path), "SCENELINK_PUBLIC_URL": "https://gw.example", **env}
    )


def test_the_outbox_is_the_default(tmp_path):
    sender = make_sender(settings(tmp_path, ""))
    assert isinstance(sender, OutboxSender) and sender.folder == tmp_path / "outbox"


async def test_twilio_from_the_file_with_its_secret_from_the_environment(tmp_path):
    s = settings(
        tmp_path,
        '[sms]\nprovider = "twilio"\nattempts = 2\n[sms.twilio]\naccount_sid = "AC1"\nfrom_number = "+447700900999"\n',
        SCENELINK_TWILIO_AUTH_TOKEN="from-env",
    )
    sender = make_sender(s)
    assert isinstance(sender, RetryingSender) and isinstance(sender.inner, TwilioSender)
    assert sender.policy.attempts == 2
    twilio = sender.inner.settings
    assert twilio.password == "from-env" and twilio.status_callback_url == "https://gw.example/sms/twilio/status"
    assert "from-env" not in repr(s), "secrets stay out of the settings' repr"
    await close_sender(sender)


def test_notify_entirely_from_the_environment(tmp_path):
    s = settings(
        tmp_path, f'[sms.govuk_notify]\ntemplate_id = "{TEMPLATE}"\n',
        SCENELINK_SMS_PROVIDER="govuk_notify", SCENELINK_NOTIFY_API_KEY=NOTIFY_KEY,
        SCENELINK_NOTIFY_CALLBACK_TOKEN="callback-token-123",
    )
    sender = make_sender(s)
    assert isinstance(sender.inner, NotifySender)
    assert sender.inner.settings.api_key == NOTIFY_KEY and sender.inner.timeout == sender.policy.attempt_timeout
    assert s.sms["govuk_notify"]["callback_bearer_token"] == "callback-token-123"


@pytest.mark.parametrize("toml,setting", [
    ('[sms]\nprovider = "twilio"\n', "sms.twilio.account_sid"),
    ('[sms]\nprovider = "govuk_notify"\n', "sms.govuk_notify.api_key"),
    ('[sms]\nprovider = "twilio"\nattempts = "x"\n', "sms.attempts"),
])
def test_a_provider_without_its_settings_is_refused_naming_the_setting(tmp_path, toml, setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        make_sender(settings(tmp_path, toml))


def test_an_unknown_provider_is_refused_when_the_file_is_read(tmp_path):
    with pytest.raises(ConfigError, match="sms.provider"):
        settings(tmp_path, '[sms]\nprovider = "carrier-pigeon"\n')


def test_the_sample_configuration_documents_every_sms_setting():
    sample = (Path(__file__).resolve().parents[4] / "samples" / "scenelink.toml").read_text()
    for name in ("provider", "sender_name", "attempts", "retry_delay_seconds", "attempt_timeout_seconds",
                 "give_up_after_seconds", "[sms.twilio]", "account_sid", "auth_token", "api_key_sid",
                 "api_key_secret", "from_number", "messaging_service_sid", "status_callback",
                 "status_callback_url", "base_url", "[sms.govuk_notify]", "api_key", "template_id",
                 "sms_sender_id", "callback_bearer_token", "SCENELINK_TWILIO_AUTH_TOKEN",
                 "SCENELINK_NOTIFY_API_KEY", "SCENELINK_NOTIFY_CALLBACK_TOKEN"):
        assert name in sample, name
