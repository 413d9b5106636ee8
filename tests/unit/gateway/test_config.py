"""Settings come from embedded defaults, then a TOML file, then SCENELINK_* variables."""

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings, with_database


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_the_embedded_defaults_need_nothing_configured(tmp_path):
    s = with_database(load_settings(environ={"SCENELINK_DATA_DIR": str(tmp_path)}))
    assert s.port == 8443 and s.tls == "self-signed" and s.sms_provider == "outbox"
    assert s.ice_servers == ()
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'scenelink.db'}"
    assert s.boundaries.get("layers"), "the sample boundaries are configured by default"


def test_environment_overrides_the_file(tmp_path):
    cfg = write(tmp_path, '[server]\nport = 9000\nhost = "127.0.0.1"\n')
    s = load_settings(cfg, {"SCENELINK_PORT": "9443", "SCENELINK_PUBLIC_URL": "https://gw.example:9443/",
                            "SCENELINK_DATA_DIR": str(tmp_path)})
    assert s.port == 9443 and s.host == "127.0.0.1"
    assert s.public_url == "https://gw.example:9443"


def test_ice_servers_are_only_what_is_configured(tmp_path):
    cfg = write(tmp_path, '[[webrtc.ice_servers]]\nurls = "stun:t.example:3478"\n')
    (server,) = load_settings(cfg, {}).ice_servers
    assert server.to_browser() == {"urls": ["stun:t.example:3478"]}


def test_a_turn_server_with_a_fixed_password_is_refused(tmp_path):
    cfg = write(tmp_path, '[[webrtc.ice_servers]]\nurls = "turn:t.example:3478"\nusername = "u"\ncredential = "p"\n')
    with pytest.raises(ConfigError, match=r"\[turn\]"):
        load_settings(cfg, {})


TURN = '[turn]\nurls = ["turns:turn.example.police.uk:443?transport=tcp"]\n'


def test_turn_takes_its_secret_from_the_environment_and_keeps_it_out_of_repr(tmp_path):
    secret = "s3cret-shared-with-coturn-0123456789"
    s = load_settings(write(tmp_path, TURN), {"SCENELINK_TURN_SECRET": secret})
    assert s.turn.urls == ("turns:turn.example.police.uk:443?transport=tcp",)
    assert s.turn.secret == secret.encode() and s.turn.credential_seconds == 600
    assert secret not in repr(s) and secret not in repr(s.turn)


def test_turn_reads_its_secret_from_a_file_only_its_owner_can_read(tmp_path):
    secret_file = tmp_path / "turn.secret"
    secret_file.write_text("from-a-file-0123456789abcdef\n")
    secret_file.chmod(0o600)
    cfg = write(tmp_path, TURN + 'secret_file = "turn.secret"\ncredential_seconds = 300\n')
    s = load_settings(cfg, {})
    assert s.turn.secret == b"from-a-file-0123456789abcdef" and s.turn.credential_seconds == 300
    secret_file.chmod(0o644)
    with pytest.raises(ConfigError, match="may be read by others"):
        load_settings(cfg, {})


@pytest.mark.parametrize("text,env,message", [
    (TURN, {}, "SCENELINK_TURN_SECRET"),
    (TURN, {"SCENELINK_TURN_SECRET": "short"}, "16 characters"),
    (TURN + 'secret = "in-the-file-0123456789"\n', {}, "does not belong in the file"),
    ('[turn]\nurls = ["stun:t.example:3478"]\n', {"SCENELINK_TURN_SECRET": "x" * 20}, "turn: or turns:"),
    (TURN + "credential_seconds = 5\n", {"SCENELINK_TURN_SECRET": "x" * 20}, "credential_seconds"),
    (TURN + 'gateway_policy = "relay"\n', {"SCENELINK_TURN_SECRET": "x" * 20}, "needs turn.gateway_urls"),
    (TURN + 'secret_file = "missing.secret"\n', {}, "cannot read"),
])
def test_bad_turn_settings_are_named(tmp_path, text, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), env)


@pytest.mark.parametrize("text,message", [
    ("[server]\nport = 'eighty'\n", "server.port"),
    ("[server]\ntls = 'maybe'\n", "server.tls"),
    ("[server]\ntls = 'files'\n", "tls_cert"),
    ("[[webrtc.ice_servers]]\nurls = 'http://x'\n", "stun:"),
    ("[server\n", "not valid TOML"),
    ("[server]\nevent_loop = 'trio'\n", "server.event_loop"),
])
def test_bad_settings_are_named_in_the_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), {})


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", {})


def test_trusted_proxies_come_from_the_file_or_the_environment(tmp_path):
    cfg = write(tmp_path, '[server]\ntrusted_proxies = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]\n')
    assert load_settings(cfg, {}).trusted_proxies == ("10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32")
    from_env = load_settings(cfg, {"SCENELINK_TRUSTED_PROXIES": "127.0.0.1, 172.16.0.0/12"})
    assert from_env.trusted_proxies == ("127.0.0.1/32", "172.16.0.0/12")
    assert load_settings(write(tmp_path, ""), {}).trusted_proxies == ()


@pytest.mark.parametrize("text", [
    '[server]\ntrusted_proxies = "10.0.0.0/8"\n',
    '[server]\ntrusted_proxies = ["10.0.0.0/33"]\n',
    '[server]\ntrusted_proxies = ["nginx"]\n',
])
def test_a_bad_trusted_proxy_is_a_configuration_error(tmp_path, text):
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(write(tmp_path, text), {})


@pytest.mark.parametrize("name, message", [
    ("West Yorkshire Police", "at most 20 characters .* is 21"),  # 21 letters and spaces
    ("Police [999] Control", "at most 20 characters .* is 22"),  # 20 characters, [ and ] are 2 septets each
    ("Heddlu Gogledd Cymrŵ", "'ŵ', which is not in the GSM 03.38"),
    ("  ", "sms.sender_name must be a name"),
])
def test_the_sender_name_must_keep_the_text_to_two_parts(tmp_path, name, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, f'[sms]\nsender_name = "{name}"\n'), {})


def test_a_sender_name_of_twenty_characters_is_taken(tmp_path):
    assert (
        load_settings(write(tmp_path, '[sms]\nsender_name = "Heddlu Gogledd Cymru"\n'), {}).sms_sender_name
        == "Heddlu Gogledd Cymru"
    )


# -- layering: a file of one's own on samples/scenelink.toml --------------------------------------


def test_a_file_of_ones_own_layers_on_the_defaults(tmp_path):
    cfg = write(tmp_path, '[media]\nsegment_seconds = 30\n\n[sms]\nsender_name = "West Yorks Police"\n')
    s = load_settings(cfg, {"SCENELINK_DATA_DIR": str(tmp_path)})
    assert s.media.segment_seconds == 30 and s.sms_sender_name == "West Yorks Police"
    # Everything the file does not say comes from samples/scenelink.toml, table by table.
    assert s.media.scene_change_snapshots is True and s.media.mjpeg_max_fps == 5.0
    assert s.sms_provider == "outbox" and s.port == 8443 and s.link_ttl_seconds == 1800
    assert s.boundaries["home_force"] == "WYP"
    assert [layer["level"] for layer in s.boundaries["layers"]] == ["force", "district", "neighbourhood"]
    samples = Path(__file__).resolve().parents[3] / "samples"
    assert s.boundaries["layers"][0]["path"] == str(samples / "boundaries" / "forces.geojson")


def test_arrays_replace_and_relative_paths_follow_their_own_file(tmp_path):
    cfg = write(
        tmp_path,
        '[boundaries]\nhome_force = "NYP"\n\n[[boundaries.layers]]\nlevel = "force"\npath = "mine/forces.shp"\n',
    )
    s = load_settings(cfg, {"SCENELINK_DATA_DIR": str(tmp_path)})
    assert s.boundaries["home_force"] == "NYP" and s.boundaries["ambiguity_threshold"] == 0.9
    assert s.boundaries["layers"] == [{"level": "force", "path": str(tmp_path / "mine" / "forces.shp")}]


def test_merge_tables_merges_tables_at_every_depth_and_replaces_everything_else():
    from gateway.config import merge_tables

    base = {"a": {"b": {"c": 1, "d": 2}, "e": [1, 2]}, "f": 3}
    top = {"a": {"b": {"c": 10}, "e": [9]}, "g": {"h": 1}}
    assert merge_tables(base, top) == {"a": {"b": {"c": 10, "d": 2}, "e": [9]}, "f": 3, "g": {"h": 1}}
    assert base == {"a": {"b": {"c": 1, "d": 2}, "e": [1, 2]}, "f": 3}  # the defaults are left alone
    assert merge_tables({"a": {"b": 1}}, {"a": 5}) == {"a": 5}  # a value may replace a table


def test_repr_shows_no_secret(tmp_path):
    secrets = {
        "SCENELINK_ADMIN_PASSWORD": "admin-secret-1234567",
        "SCENELINK_DATABASE_URL": "postgresql+asyncpg://gw:db-secret-1234567@db/scenelink",
        "SCENELINK_REDIS_URL": "redis://:redis-secret-1234567@r:6379/0",
        "SCENELINK_METRICS_TOKEN": "metrics-secret-1234567",
        "SCENELINK_TWILIO_AUTH_TOKEN": "twilio-secret-1234567",
        "SCENELINK_NOTIFY_API_KEY": "notify-secret-1234567",
        "HOOK_SECRET": "hook-secret-12345678901",
    }
    cfg = write(tmp_path, '[[webhooks]]\nname = "cad"\nurl = "https://cad.example/hook"\nsecret_env = "HOOK_SECRET"\n')
    s = load_settings(cfg, {"SCENELINK_DATA_DIR": str(tmp_path), **secrets})
    assert s.admin_password == "admin-secret-1234567" and s.webhooks[0].secret == "hook-secret-12345678901"
    shown = repr(s) + str(s)
    for value in secrets.values():
        assert "secret-" not in shown, shown
        assert value not in shown


def test_the_os_maps_api_key_stays_on_the_gateway(tmp_path):
    cfg = write(tmp_path, '[map]\nos_layer = "Road_3857"\n')
    with pytest.raises(ConfigError, match="SCENELINK_OS_API_KEY"):
        load_settings(cfg, {"SCENELINK_DATA_DIR": str(tmp_path)})
    s = load_settings(cfg, {"SCENELINK_DATA_DIR": str(tmp_path), "SCENELINK_OS_API_KEY": "k3y"})
    assert s.map.remote_template() == "https://api.os.uk/maps/raster/v1/zxy/Road_3857/{z}/{x}/{y}.png?key=k3y"
    assert "Crown copyright" in s.map.remote_attribution()
    assert "k3y" not in repr(s)
    with pytest.raises(ConfigError, match="os_layer must be one of"):
        load_settings(write(tmp_path, '[map]\nos_layer = "Road"\n'), {"SCENELINK_OS_API_KEY": "k"})


def test_a_tile_url_needs_its_placeholders(tmp_path):
    with pytest.raises(ConfigError, match=r"\{z\}, \{x\} and \{y\}"):
        load_settings(write(tmp_path, '[map]\ntile_url = "https://tiles.example/{z}/{x}.png"\n'), {})
    s = load_settings(write(tmp_path, '[map]\ntile_url = "https://t.example/{z}/{x}/{y}.png?k={key}"\n'),
                      {"SCENELINK_TILE_KEY": "abc"})
    assert s.map.remote_template() == "https://t.example/{z}/{x}/{y}.png?k=abc"


def test_the_signing_key_and_retention_periods_are_configured_or_defaulted(tmp_path):
    s = load_settings(environ={"SCENELINK_DATA_DIR": str(tmp_path)})
    assert s.signing_key_path == tmp_path / "keys" / "checkpoint.key"
    assert s.record.checkpoint_interval_seconds == 300
    kinds = ("recordings", "snapshots", "fixes", "conversation", "caller_phone")
    assert [s.retention.days(k) for k in kinds] == [31] * 5
    s = load_settings(write(tmp_path, "[record]\nsigning_key = 'k.pem'\ncheckpoint_interval_seconds = 60\n"
                                      "[retention]\nrecordings_days = 0\ncaller_phone_days = 7\n"), {})
    assert s.signing_key_path == tmp_path / "k.pem" and s.record.checkpoint_interval_seconds == 60
    assert s.retention.days("recordings") == 0 and s.retention.days("caller_phone") == 7


@pytest.mark.parametrize("text,message", [
    ("[retention]\nfixes_days = -1\n", "retention.fixes_days"),
    ("[retention]\nsnapshots_days = 'month'\n", "retention.snapshots_days"),
    ("[record]\ncheckpoint_interval_seconds = 0\n", "record.checkpoint_interval_seconds"),
])
def test_bad_record_and_retention_settings_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), {})


def test_an_os_national_grid_layer_brings_its_tile_matrix(tmp_path):
    cfg = write(tmp_path, '[map]\nos_layer = "Road_27700"\n')
    s = load_settings(cfg, {"SCENELINK_DATA_DIR": str(tmp_path), "SCENELINK_OS_API_KEY": "k"})
    assert s.map.tile_crs == "EPSG:27700" and s.map.tile_max_zoom == 13
    assert s.map.tile_resolutions[0] == 896.0 and s.map.tile_origin == (-238375.0, 1376256.0)
    with pytest.raises(ConfigError, match="tile_crs must be"):
        load_settings(write(tmp_path, '[map]\ntile_crs = "EPSG:4326"\n'), {})


def test_the_media_plane_is_embedded_unless_janus_is_configured(tmp_path):
    assert load_settings(write(tmp_path, ""), {}).media.plane == "embedded"
    secrets = {"SCENELINK_JANUS_API_SECRET": "a" * 24, "SCENELINK_JANUS_ADMIN_KEY": "b" * 24}
    media = load_settings(write(tmp_path, '[media]\nplane = "janus"\njanus_url = "ws://127.0.0.1:9188/"\n'),
                          secrets).media
    assert media.plane == "janus" and media.janus is not None and media.janus.url == "ws://127.0.0.1:9188/"
    assert media.janus.api_secret == "a" * 24
    # The secrets come from the environment only, and no repr shows them.
    assert "a" * 24 not in repr(media) and "b" * 24 not in repr(media)
    with pytest.raises(ConfigError, match="SCENELINK_JANUS_API_SECRET"):
        load_settings(write(tmp_path, '[media]\nplane = "janus"\n'), {})
    with pytest.raises(ConfigError, match="media.plane must be one of"):
        load_settings(write(tmp_path, '[media]\nplane = "mcu"\n'), {})


def test_viewers_are_forwarded_the_callers_frames_unless_transcoding_is_configured(tmp_path):
    assert load_settings(write(tmp_path, ""), {}).media.viewer_video == "forward"
    cfg = write(tmp_path, '[media]\nviewer_video = "transcode"\n')
    assert load_settings(cfg, {}).media.viewer_video == "transcode"
    from_env = load_settings(write(tmp_path, ""), {"SCENELINK_MEDIA_VIEWER_VIDEO": "transcode"})
    assert from_env.media.viewer_video == "transcode"
    with pytest.raises(ConfigError, match="media.viewer_video must be one of"):
        load_settings(write(tmp_path, '[media]\nviewer_video = "mcu"\n'), {})


def test_the_event_loop_is_uvloop_unless_asyncio_is_configured(tmp_path):
    assert load_settings(environ={"SCENELINK_DATA_DIR": str(tmp_path)}).event_loop == "uvloop"
    cfg = write(tmp_path, '[server]\nevent_loop = "asyncio"\n')
    assert load_settings(cfg, {}).event_loop == "asyncio"
    assert load_settings(environ={"SCENELINK_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
