"""One settings object, built from embedded defaults, a TOML file and ``SCENELINK_*`` variables.

Precedence, lowest first: the defaults below, the TOML file given with ``--config``, then the
environment. The defaults run a complete gateway on one machine with nothing to configure.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec the sender name is checked with)

from .addresses import parse_networks
from .share import SAMPLES

SAMPLES_DIR = SAMPLES
DEFAULT_CONFIG = SAMPLES_DIR / "scenelink.toml"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


SMS_PROVIDERS = ("outbox", "twilio", "govuk_notify")

# The longest sender name, in GSM 03.38 septets, that keeps the link's text message to two SMS
# parts in every caller language (tests/unit/gateway/test_sms_text.py holds each language to it).
SMS_SENDER_MAX = 20

# Provider secrets are better kept out of the file: each variable fills in one [sms] setting.
SMS_ENVIRONMENT = {
    "SCENELINK_SMS_PROVIDER": ("provider",),
    "SCENELINK_TWILIO_ACCOUNT_SID": ("twilio", "account_sid"),
    "SCENELINK_TWILIO_AUTH_TOKEN": ("twilio", "auth_token"),
    "SCENELINK_TWILIO_API_KEY_SECRET": ("twilio", "api_key_secret"),
    "SCENELINK_NOTIFY_API_KEY": ("govuk_notify", "api_key"),
    "SCENELINK_NOTIFY_CALLBACK_TOKEN": ("govuk_notify", "callback_bearer_token"),
}


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server, as the browser's ``RTCIceServer`` dictionary names it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)
    # For the gateway's own peers only: offer nothing but this server's relayed address (the
    # WebRTC "relay" ICE transport policy), never the gateway's own addresses.
    relay_only: bool = False

    def to_browser(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
        if self.credential is not None:
            entry["credential"] = self.credential
        return entry


@dataclass(frozen=True)
class TurnSettings:
    """``[turn]``: a TURN server (coturn with ``use-auth-secret``) that the gateway mints
    time-limited credentials for; see gateway.turn and docs/deployment.md, "TURN"."""

    # What callers' pages and operators' consoles are told, e.g. ["turns:turn.force.police.uk:443?transport=tcp"].
    urls: tuple[str, ...] = ()
    # What the gateway's own peer connections use, where the gateway cannot be reached directly
    # from the TURN server's relay (aiortc uses the first turn: URL only); none: the gateway
    # offers its own addresses alone.
    gateway_urls: tuple[str, ...] = ()
    # How long a minted credential lasts at most (never past the link or session it is for).
    credential_seconds: int = 600
    # "all": the gateway offers its own addresses and its relay; "relay": its relay alone, so
    # that callers never learn its addresses and the TURN server need relay to nothing else.
    gateway_policy: str = "all"
    # The secret shared with coturn (static-auth-secret): SCENELINK_TURN_SECRET or secret_file.
    secret: bytes = field(default=b"", repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.gateway_urls)


OS_MAPS_URL = "https://api.os.uk/maps/raster/v1/zxy/{layer}/{z}/{x}/{y}.png?key={key}"
# The OS Maps API's British National Grid tile matrix (metres a pixel at zooms 0 to 13).
OS_27700_RESOLUTIONS = (896.0, 448.0, 224.0, 112.0, 56.0, 28.0, 14.0, 7.0, 3.5, 1.75, 0.875, 0.4375, 0.21875, 0.109375)
OS_LAYERS = ("Road_3857", "Outdoor_3857", "Light_3857", "Leisure_27700", "Road_27700", "Outdoor_27700",
             "Light_27700")


@dataclass(frozen=True)
class MapSettings:
    """The dispatcher's base map (README "Map"). Every tile reaches the browser through the gateway."""

    # A force's raster tile service, fetched by the gateway and cached (``/tiles/remote/{z}/{x}/{y}``):
    # any XYZ template; ``{key}`` in it is filled from ``tile_key`` on the gateway only.
    tile_url: str | None = None
    tile_attribution: str = ""
    tile_key: str | None = field(default=None, repr=False)
    tile_max_zoom: int = 19
    # The Ordnance Survey Maps API instead of tile_url: the layer, and the key (SCENELINK_OS_API_KEY).
    os_layer: str | None = None
    # Vector tiles served by the gateway itself (PMTiles, see `scenelink basemap build`): the default
    # map and a force's street map; unset means DATA_DIR/tiles/basemap.pmtiles and streets.pmtiles.
    pmtiles: Path | None = None
    streets: Path | None = None
    tile_cache_days: int = 30
    # The tile service's grid: "EPSG:3857" (Web Mercator, most services) or "EPSG:27700" (British
    # National Grid, the OS Maps API's *_27700 layers and many force GIS servers), drawn through
    # proj4leaflet with the OS tile matrix unless tile_resolutions / tile_origin say otherwise.
    tile_crs: str = "EPSG:3857"
    tile_resolutions: tuple[float, ...] = ()
    tile_origin: tuple[float, float] = (-238375.0, 1376256.0)
    center: tuple[float, float] = (53.79, -1.55)
    zoom: int = 10

    def remote_template(self) -> str | None:
        """The upstream URL template with its key filled in (never sent to a browser)."""
        if self.os_layer:
            return OS_MAPS_URL.replace("{layer}", self.os_layer).replace("{key}", self.tile_key or "")
        if self.tile_url:
            return self.tile_url.replace("{key}", self.tile_key or "")
        return None

    def remote_attribution(self) -> str:
        if self.os_layer and not self.tile_attribution:
            return "Contains OS data © Crown copyright and database right"
        return self.tile_attribution


@dataclass(frozen=True)
class MediaSettings:
    # Defaults for new incidents; a handler can change them per incident.
    snapshot_interval_seconds: int | None = None
    scene_change_snapshots: bool = True
    record_by_default: bool = False
    scene_change_threshold: float = 0.12
    scene_change_cooldown_seconds: float = 5.0
    segment_seconds: int = 60
    # A caller that sends nothing for this long is treated as gone: no frame for a video session
    # (whatever the data channel carries), no message for a location-only one.
    silence_timeout_seconds: float = 20.0
    # A snapshot of a newest frame older than this is refused as stale unless asked for explicitly.
    max_snapshot_age_seconds: float = 2.0
    # No frame for this long: the video is "frozen" (the console says so).
    frozen_after_seconds: float = 1.5
    # Skip what cannot be recovered and ask for a keyframe when the video stalls (off: aiortc's
    # own behaviour, for comparison).
    keyframe_recovery: bool = True
    # Origins allowed to frame the embeddable viewer (frame-ancestors), e.g. the CAD system.
    embed_origins: tuple[str, ...] = ()
    embed_token_seconds: int = 8 * 3600
    mjpeg_max_fps: float = 5.0
    # The media plane (gateway.media.plane): "embedded" (this process relays to every viewer) or
    # "janus" (callers publish to Janus's VideoRoom; viewers subscribe there).
    plane: str = "embedded"
    janus: JanusSettings | None = None
    # How the embedded plane feeds a viewer: "forward" the caller's own encoded frames to a viewer
    # of the same codec (no re-encoding; the caller's bitrate) or "transcode" every viewer (one
    # encode per viewer, at a bitrate following the viewer's link). gateway.media.viewers.
    viewer_video: str = "forward"


@dataclass(frozen=True)
class JanusSettings:
    """How the gateway reaches Janus: its WebSocket API (loopback or a private network) and the
    two secrets Janus checks, both from the environment and never shown (not even in repr)."""

    url: str = "ws://127.0.0.1:8188/"
    api_secret: str = field(default="", repr=False)
    admin_key: str = field(default="", repr=False)
    # Kilobits a second Janus lets the caller send, as the embedded relay's own ceiling.
    max_kbps: int = 1500


WEBHOOK_EVENTS = ("incident.created", "link.state", "fix", "snapshot", "session.started", "session.ended")


@dataclass(frozen=True)
class WebhookEndpoint:
    """One ``[[webhooks]]`` receiver: where to POST, the shared secret, which events it wants."""

    name: str
    url: str
    secret: str = field(repr=False)
    events: tuple[str, ...] = WEBHOOK_EVENTS
    timeout_seconds: float = 10.0
    max_attempts: int = 12
    first_retry_seconds: float = 2.0
    max_retry_seconds: float = 600.0


@dataclass(frozen=True)
class LoginSettings:
    """``[login]``: when sign-ins are refused, and how much hashing they may cost."""

    max_failures: int = 10          # failures of one account, or from one address, that lock it
    window_seconds: float = 900.0   # ... counted over this long
    lockout_seconds: float = 900.0  # how long a lock lasts (an administrator can lift it sooner)
    hash_threads: int = 1           # argon2 work runs on this many threads of its own
    hash_queue: int = 8             # checks waiting beyond those; more are refused (503) at once


@dataclass(frozen=True)
class MetricsSettings:
    """Who may read ``/metrics``: client addresses (CIDR), or a bearer token from the environment."""

    enabled: bool = True
    allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RecordSettings:
    # The Ed25519 key that signs the audit chain's head; None: ``data_dir/keys/checkpoint.key``,
    # created (mode 0600) on first start.
    signing_key: Path | None = None
    # How often the head is signed when the chain has moved (it is also signed at every export).
    checkpoint_interval_seconds: int = 300


# What the retention purge removes, by kind, and after how many days from the incident's end
# (0: never). Defaults and their sources: docs/retention.md.
RETENTION_KINDS = ("recordings", "snapshots", "fixes", "conversation", "caller_phone")


@dataclass(frozen=True)
class RetentionSettings:
    recordings_days: int = 31
    snapshots_days: int = 31
    fixes_days: int = 31
    conversation_days: int = 31
    caller_phone_days: int = 31
    purge_interval_seconds: int = 3600

    def days(self, kind: str) -> int:
        return int(getattr(self, f"{kind}_days"))


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = "0.0.0.0"
    port: int = 8443
    public_url: str = ""
    # "self-signed" (generated on first start), "files" (tls_cert + tls_key) or "off" (behind a
    # reverse proxy that terminates TLS).
    tls: str = "self-signed"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    database_url: str = field(default="", repr=False)  # a URL may carry a password
    # PostgreSQL's connection pool per gateway process (SQLite ignores both): connections kept
    # open, and how many more may be opened at a peak. Writes queue on the writer lock anyway;
    # reads (consoles, maps, exports) are what use more than one.
    database_pool_size: int = 5
    database_max_overflow: int = 10
    link_ttl_seconds: int = 30 * 60
    session_max_seconds: int = 2 * 60 * 60
    ice_servers: tuple[IceServer, ...] = ()
    turn: TurnSettings = TurnSettings()
    sms_provider: str = "outbox"
    sms_sender_name: str = "999 Control Room"
    # The whole [sms] table with the environment's secrets filled in; gateway.sms reads the
    # provider's own settings from it. Kept out of repr: it holds secrets.
    sms: Mapping[str, Any] = field(default_factory=dict, repr=False)
    boundaries: Mapping[str, Any] = field(default_factory=dict)
    boundaries_base: Path = SAMPLES_DIR
    map: MapSettings = MapSettings()
    media: MediaSettings = MediaSettings()
    admin_password: str | None = field(default=None, repr=False)  # a secret: never in repr or logs
    # Reverse proxies (CIDR blocks) whose X-Forwarded-For names the real client; see
    # gateway.addresses. Empty: the direct peer is the client, and the header is ignored.
    trusted_proxies: tuple[str, ...] = ()
    # Several nodes share events through Redis (e.g. "redis://127.0.0.1:6379/0"); none: in process.
    # Kept out of repr: a URL may carry a password.
    redis_url: str | None = field(default=None, repr=False)
    # This node's name in logs, metrics and the events it publishes (default: the host name).
    node_name: str = ""
    # How other nodes reach this one (viewer offers forwarded to the node holding the caller), and
    # the secret nodes present to each other; both unused on a single node.
    node_url: str = ""
    node_secret: str | None = field(default=None, repr=False)
    node_tls_verify: bool = True
    # On SIGTERM, how long to wait for this node's callers to reconnect to another node.
    drain_seconds: float = 15.0
    metrics: MetricsSettings = MetricsSettings()
    login: LoginSettings = LoginSettings()
    # HTTP connections held at once (kept well below the process's descriptor limit anyway).
    max_connections: int = 4096
    # The event loop `scenelink serve` runs on: "uvloop" (reads many datagrams per wake-up, so a
    # busy gateway's UDP sockets do not overflow) or "asyncio" (the standard library's).
    event_loop: str = "uvloop"
    webhooks: tuple[WebhookEndpoint, ...] = ()
    record: RecordSettings = RecordSettings()
    retention: RetentionSettings = RetentionSettings()

    # An AML message joins an open incident for its number opened at most this long ago; a kept
    # one is offered to incidents opened within this long of it.
    aml_window_seconds: int = 3600

    @property
    def signing_key_path(self) -> Path:
        return self.record.signing_key or self.data_dir / "keys" / "checkpoint.key"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def load_settings(
    config_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings: the defaults in ``samples/scenelink.toml``, with ``config_path`` on top.

    A file of one's own needs to say only what differs: its tables merge into the defaults' key
    by key (see :func:`merge_tables`); relative paths in each file are relative to that file.
    """
    env = os.environ if environ is None else environ
    table = _anchor_paths(_read_toml(DEFAULT_CONFIG), DEFAULT_CONFIG.resolve().parent)
    base = DEFAULT_CONFIG.resolve().parent
    if config_path is not None and config_path.resolve() != DEFAULT_CONFIG.resolve():
        base = config_path.resolve().parent
        table = merge_tables(table, _anchor_paths(_read_toml(config_path), base))
    return _from_table(table, base, env)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def merge_tables(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` layered on ``base``: tables merge key by key, at every depth; any other value,
    arrays included (``[[boundaries.layers]]``, ``ice_servers``), replaces the one below whole."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge_tables(below, value)
        else:
            merged[key] = value
    return merged


def _anchor_paths(table: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """A copy of one file's table with its relative file paths made relative to ``base`` (the
    file's folder), so that after merging each path still means what its own file meant."""
    out = dict(table)

    def anchored(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str(base / value)
        return value

    server = out.get("server")
    if isinstance(server, Mapping):
        out["server"] = {k: anchored(v) if k in ("tls_cert", "tls_key") else v for k, v in server.items()}
    turn = out.get("turn")
    if isinstance(turn, Mapping) and "secret_file" in turn:
        out["turn"] = {**turn, "secret_file": anchored(turn["secret_file"])}
    boundaries = out.get("boundaries")
    if isinstance(boundaries, Mapping):
        fixed = dict(boundaries)
        if "postcodes" in fixed:
            fixed["postcodes"] = anchored(fixed["postcodes"])
        layers = fixed.get("layers")
        if isinstance(layers, list):
            fixed["layers"] = [
                {**layer, "path": anchored(layer.get("path"))} if isinstance(layer, Mapping) else layer
                for layer in layers
            ]
        out["boundaries"] = fixed
    return out


def _from_table(table: Mapping[str, Any], base: Path, env: Mapping[str, str]) -> Settings:
    server = table.get("server", {})
    links = table.get("links", {})
    sms = _sms_table(table.get("sms", {}), env)
    webrtc = table.get("webrtc", {})
    map_table = table.get("map", {})
    media_table = table.get("media", {})

    data_dir = Path(env.get("SCENELINK_DATA_DIR") or server.get("data_dir") or "data")
    if not data_dir.is_absolute():
        data_dir = (Path.cwd() / data_dir).resolve()
    host = env.get("SCENELINK_HOST") or server.get("host", "0.0.0.0")
    port = _int(env.get("SCENELINK_PORT") or server.get("port", 8443), "server.port")
    tls = env.get("SCENELINK_TLS") or server.get("tls", "self-signed")
    if tls not in ("self-signed", "files", "off"):
        raise ConfigError(f"server.tls must be 'self-signed', 'files' or 'off', not {tls!r}")
    cert = server.get("tls_cert")
    key = server.get("tls_key")
    if tls == "files" and not (cert and key):
        raise ConfigError("server.tls = 'files' needs both server.tls_cert and server.tls_key")

    public_url = env.get("SCENELINK_PUBLIC_URL") or server.get("public_url") or ""
    if not public_url:
        scheme = "http" if tls == "off" else "https"
        shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
        public_url = f"{scheme}://{shown}:{port}"
    if not public_url.startswith(("https://", "http://")):
        raise ConfigError(f"public_url must start with https:// (got {public_url!r})")

    ice = tuple(_ice_server(entry) for entry in webrtc.get("ice_servers", []))
    center = map_table.get("center", [53.79, -1.55])
    return Settings(
        data_dir=data_dir,
        host=host,
        port=port,
        public_url=public_url.rstrip("/"),
        tls=tls,
        tls_cert=_path(cert, base),
        tls_key=_path(key, base),
        database_url=env.get("SCENELINK_DATABASE_URL") or server.get("database_url") or "",
        database_pool_size=_int(
            env.get("SCENELINK_DATABASE_POOL_SIZE") or server.get("database_pool_size", 5), "server.database_pool_size"
        ),
        database_max_overflow=_int(
            env.get("SCENELINK_DATABASE_MAX_OVERFLOW") or server.get("database_max_overflow", 10),
            "server.database_max_overflow",
        ),
        link_ttl_seconds=_int(links.get("ttl_seconds", 1800), "links.ttl_seconds"),
        session_max_seconds=_int(links.get("session_max_seconds", 7200), "links.session_max_seconds"),
        ice_servers=ice,
        turn=_turn(table.get("turn", {}), env, base),
        sms_provider=sms.get("provider", "outbox"),
        sms_sender_name=_sender_name(sms.get("sender_name", "999 Control Room")),
        sms=sms,
        boundaries=table.get("boundaries", {}),
        boundaries_base=base,
        map=_map_settings(map_table, env, center, base),
        media=_media(media_table, env),
        record=_record(table.get("record", {}), base),
        retention=_retention(table.get("retention", {})),
        admin_password=env.get("SCENELINK_ADMIN_PASSWORD") or None,
        redis_url=env.get("SCENELINK_REDIS_URL") or server.get("redis_url") or None,
        node_name=env.get("SCENELINK_NODE_NAME") or server.get("node_name") or socket.gethostname(),
        metrics=_metrics(table.get("metrics", {}), env),
        node_url=env.get("SCENELINK_NODE_URL") or server.get("node_url") or _own_url(tls, host, port),
        node_secret=env.get("SCENELINK_NODE_SECRET") or None,
        node_tls_verify=bool(server.get("node_tls_verify", True)),
        drain_seconds=float(server.get("drain_seconds", 15.0)),
        login=_login(table.get("login", {})),
        webhooks=_webhooks(table.get("webhooks", []), env),
        max_connections=_int(server.get("max_connections", 4096), "server.max_connections"),
        event_loop=_event_loop(env.get("SCENELINK_EVENT_LOOP") or server.get("event_loop", "uvloop")),
        trusted_proxies=_trusted_proxies(env.get("SCENELINK_TRUSTED_PROXIES"), server.get("trusted_proxies", [])),
        aml_window_seconds=_int(table.get("aml", {}).get("window_seconds", 3600), "aml.window_seconds"),
    )


EVENT_LOOPS = ("uvloop", "asyncio")


def _event_loop(value: object) -> str:
    if value not in EVENT_LOOPS:
        raise ConfigError(f"server.event_loop must be one of {', '.join(EVENT_LOOPS)}, not {value!r}")
    return str(value)


def _login(table: Mapping[str, Any]) -> LoginSettings:
    d = LoginSettings()
    settings = LoginSettings(
        max_failures=_int(table.get("max_failures", d.max_failures), "login.max_failures"),
        window_seconds=_positive(table.get("window_seconds", d.window_seconds), "login.window_seconds"),
        lockout_seconds=_positive(table.get("lockout_seconds", d.lockout_seconds), "login.lockout_seconds"),
        hash_threads=_int(table.get("hash_threads", d.hash_threads), "login.hash_threads"),
        hash_queue=_int(table.get("hash_queue", d.hash_queue), "login.hash_queue"),
    )
    if settings.max_failures < 1 or settings.hash_threads < 1 or settings.hash_queue < 0:
        raise ConfigError("login.max_failures and login.hash_threads must be at least 1, login.hash_queue 0 or more")
    return settings


def _trusted_proxies(from_env: str | None, from_file: Any) -> tuple[str, ...]:
    """``[server] trusted_proxies = ["10.0.0.0/8", ...]``, or a comma-separated variable."""
    values = [v for v in from_env.split(",") if v.strip()] if from_env else from_file
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError("server.trusted_proxies must be a list of CIDR blocks, e.g. [\"10.0.0.0/8\"]")
    try:
        return tuple(str(network) for network in parse_networks(values))
    except ValueError as exc:
        raise ConfigError(f"server.trusted_proxies: {exc}") from None


MEDIA_PLANES = ("embedded", "janus")
VIEWER_VIDEO = ("forward", "transcode")


def _janus(table: Mapping[str, Any], env: Mapping[str, str]) -> JanusSettings:
    url = env.get("SCENELINK_JANUS_URL") or table.get("janus_url") or JanusSettings.url
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise ConfigError("media.janus_url must be the WebSocket API of Janus, ws:// or wss://")
    api_secret = env.get("SCENELINK_JANUS_API_SECRET") or ""
    admin_key = env.get("SCENELINK_JANUS_ADMIN_KEY") or ""
    for name, value in (("SCENELINK_JANUS_API_SECRET", api_secret), ("SCENELINK_JANUS_ADMIN_KEY", admin_key)):
        if len(value) < 16:
            raise ConfigError(f"media.plane = \"janus\" needs {name} in the environment (16 characters or more)")
    return JanusSettings(
        url=url, api_secret=api_secret, admin_key=admin_key,
        max_kbps=_int(table.get("janus_max_kbps", JanusSettings.max_kbps), "media.janus_max_kbps"),
    )


def _media(table: Mapping[str, Any], env: Mapping[str, str] | None = None) -> MediaSettings:
    env = env or {}
    plane = env.get("SCENELINK_MEDIA_PLANE") or table.get("plane", "embedded")
    if plane not in MEDIA_PLANES:
        raise ConfigError(f"media.plane must be one of {', '.join(MEDIA_PLANES)} (got {plane!r})")
    viewer_video = env.get("SCENELINK_MEDIA_VIEWER_VIDEO") or table.get("viewer_video", "forward")
    if viewer_video not in VIEWER_VIDEO:
        raise ConfigError(f"media.viewer_video must be one of {', '.join(VIEWER_VIDEO)} (got {viewer_video!r})")
    interval = table.get("snapshot_interval_seconds")
    if interval is not None and (not isinstance(interval, int) or interval < 5):
        raise ConfigError("media.snapshot_interval_seconds must be a whole number of seconds, at least 5")
    origins = table.get("embed_origins", [])
    if not all(isinstance(o, str) and o.startswith("https://") for o in origins):
        raise ConfigError("media.embed_origins must list https:// origins")
    return MediaSettings(
        snapshot_interval_seconds=interval,
        scene_change_snapshots=bool(table.get("scene_change_snapshots", True)),
        record_by_default=bool(table.get("record_by_default", False)),
        scene_change_threshold=float(table.get("scene_change_threshold", 0.12)),
        scene_change_cooldown_seconds=float(table.get("scene_change_cooldown_seconds", 5.0)),
        segment_seconds=_int(table.get("segment_seconds", 60), "media.segment_seconds"),
        silence_timeout_seconds=float(table.get("silence_timeout_seconds", 20.0)),
        max_snapshot_age_seconds=_positive(
            table.get("max_snapshot_age_seconds", 2.0), "media.max_snapshot_age_seconds"
        ),
        frozen_after_seconds=_positive(table.get("frozen_after_seconds", 1.5), "media.frozen_after_seconds"),
        keyframe_recovery=bool(table.get("keyframe_recovery", True)),
        embed_origins=tuple(origins),
        embed_token_seconds=_int(table.get("embed_token_seconds", 8 * 3600), "media.embed_token_seconds"),
        mjpeg_max_fps=float(table.get("mjpeg_max_fps", 5.0)),
        plane=plane,
        janus=_janus(table, env) if plane == "janus" else None,
        viewer_video=viewer_video,
    )


def _webhooks(entries: Any, env: Mapping[str, str]) -> tuple[WebhookEndpoint, ...]:
    if not isinstance(entries, list):
        raise ConfigError("webhooks must be an array of tables: [[webhooks]]")
    found: list[WebhookEndpoint] = []
    for n, entry in enumerate(entries, 1):
        where = f"webhooks #{n}"
        name = str(entry.get("name") or f"webhook-{n}")
        if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 64:
            raise ConfigError(f"{where}: name must be letters, digits, - or _ (got {name!r})")
        if any(w.name == name for w in found):
            raise ConfigError(f"{where}: the name {name!r} is used twice")
        url = str(entry.get("url") or "")
        parts = urlsplit(url)
        local = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if not (parts.scheme == "https" or (parts.scheme == "http" and local)) or not parts.hostname:
            raise ConfigError(f"{where}: url must be https:// (plain http only to this machine), got {url!r}")
        variable = entry.get("secret_env")
        if not variable:
            raise ConfigError(f"{where}: secret_env must name the environment variable holding the secret")
        secret = env.get(str(variable), "")
        if len(secret) < 16:
            raise ConfigError(
                f"{where}: the environment variable {variable} must hold a secret of 16 characters or more"
            )
        events = tuple(entry.get("events", WEBHOOK_EVENTS))
        unknown = [e for e in events if e not in WEBHOOK_EVENTS]
        if unknown:
            raise ConfigError(f"{where}: unknown events {unknown}; choose from {', '.join(WEBHOOK_EVENTS)}")
        found.append(WebhookEndpoint(
            name=name, url=url, secret=secret, events=events,
            timeout_seconds=float(entry.get("timeout_seconds", 10.0)),
            max_attempts=_int(entry.get("max_attempts", 12), f"{where}.max_attempts"),
            first_retry_seconds=float(entry.get("first_retry_seconds", 2.0)),
            max_retry_seconds=float(entry.get("max_retry_seconds", 600.0)),
        ))
    return tuple(found)


def _own_url(tls: str, host: str, port: int) -> str:
    """How other nodes reach this one when the configuration does not say: its own listener."""
    scheme = "http" if tls == "off" else "https"
    return f"{scheme}://{socket.gethostname() if host in ('0.0.0.0', '::') else host}:{port}"


def _metrics(table: Mapping[str, Any], env: Mapping[str, str]) -> MetricsSettings:
    allow = table.get("allow", ["127.0.0.1/32", "::1/128"])
    try:
        networks = tuple(str(ipaddress.ip_network(net, strict=False)) for net in allow)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"metrics.allow must list addresses or networks (CIDR): {exc}") from exc
    return MetricsSettings(
        enabled=bool(table.get("enabled", True)), allow=networks,
        token=env.get("SCENELINK_METRICS_TOKEN") or None,
    )


def _record(table: Mapping[str, Any], base: Path) -> RecordSettings:
    interval = _int(table.get("checkpoint_interval_seconds", 300), "record.checkpoint_interval_seconds")
    if interval < 1:
        raise ConfigError("record.checkpoint_interval_seconds must be at least 1")
    return RecordSettings(signing_key=_path(table.get("signing_key"), base), checkpoint_interval_seconds=interval)


def _retention(table: Mapping[str, Any]) -> RetentionSettings:
    values = {}
    for kind in RETENTION_KINDS:
        days = _int(table.get(f"{kind}_days", 31), f"retention.{kind}_days")
        if days < 0:
            raise ConfigError(f"retention.{kind}_days must be 0 (keep) or a number of days")
        values[f"{kind}_days"] = days
    interval = _int(table.get("purge_interval_seconds", 3600), "retention.purge_interval_seconds")
    if interval < 1:
        raise ConfigError("retention.purge_interval_seconds must be at least 1")
    return RetentionSettings(**values, purge_interval_seconds=interval)


def with_database(settings: Settings) -> Settings:
    """Fill in the embedded SQLite database under the data directory when none is configured."""
    if settings.database_url:
        return settings
    return replace(
        settings, database_url=f"sqlite+aiosqlite:///{settings.data_dir / 'scenelink.db'}"
    )


def _sms_table(table: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    sms = {key: dict(value) if isinstance(value, Mapping) else value for key, value in table.items()}
    for variable, path in SMS_ENVIRONMENT.items():
        if env.get(variable):
            target = sms
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = env[variable]
    provider = sms.setdefault("provider", "outbox")
    if provider not in SMS_PROVIDERS:
        raise ConfigError(f"sms.provider must be one of {', '.join(SMS_PROVIDERS)}, not {provider!r}")
    return sms


def _ice_server(entry: Mapping[str, Any]) -> IceServer:
    urls = entry.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not urls or not all(isinstance(u, str) and u.startswith(("stun:", "turn:", "turns:")) for u in urls):
        raise ConfigError(f"webrtc.ice_servers: each entry needs urls starting stun:, turn: or turns: ({entry!r})")
    if any(u.startswith(("turn:", "turns:")) for u in urls):
        # A fixed TURN password would sit in every caller's page for anyone to reuse: TURN goes in
        # [turn], whose credentials the gateway mints per link and which expire.
        raise ConfigError(
            "webrtc.ice_servers lists STUN servers only: configure TURN in [turn] (urls, and the shared"
            " secret in SCENELINK_TURN_SECRET or turn.secret_file), never with a fixed password"
        )
    return IceServer(tuple(urls), entry.get("username"), entry.get("credential"))


TURN_SECRET_MIN = 16
TURN_SCHEMES = ("turn:", "turns:")


def _turn(table: Mapping[str, Any], env: Mapping[str, str], base: Path) -> TurnSettings:
    def url_list(name: str) -> tuple[str, ...]:
        value = table.get(name, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(u, str) and u.startswith(TURN_SCHEMES) for u in value):
            raise ConfigError(
                f"turn.{name} must list turn: or turns: URLs, e.g. [\"turns:turn.example.police.uk:443?transport=tcp\"]"
            )
        return tuple(value)

    urls, gateway_urls = url_list("urls"), url_list("gateway_urls")
    seconds = _int(table.get("credential_seconds", 600), "turn.credential_seconds")
    if not 60 <= seconds <= 86400:
        raise ConfigError("turn.credential_seconds must be between 60 and 86400")
    if "secret" in table:
        raise ConfigError("turn.secret does not belong in the file: use SCENELINK_TURN_SECRET or turn.secret_file")
    secret = env.get("SCENELINK_TURN_SECRET", "")
    secret_file = _path(table.get("secret_file"), base)
    if not secret and secret_file is not None:
        secret = _read_secret_file(secret_file, "turn.secret_file")
    if (urls or gateway_urls) and len(secret) < TURN_SECRET_MIN:
        raise ConfigError(
            f"[turn] needs the secret shared with the TURN server ({TURN_SECRET_MIN} characters or more) in"
            " SCENELINK_TURN_SECRET or in the file named by turn.secret_file"
        )
    policy = table.get("gateway_policy", "all")
    if policy not in ("all", "relay"):
        raise ConfigError(f"turn.gateway_policy must be 'all' or 'relay', not {policy!r}")
    if policy == "relay" and not gateway_urls:
        raise ConfigError("turn.gateway_policy = 'relay' needs turn.gateway_urls")
    return TurnSettings(
        urls=urls, gateway_urls=gateway_urls, credential_seconds=seconds, gateway_policy=policy,
        secret=secret.encode(),
    )


def _read_secret_file(path: Path, name: str) -> str:
    """A secret kept in a file of its own, which only its owner may read (mode 0600 or 0400)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{name}: {path} may be read by others (mode {mode & 0o777:o}); make it 0600")
    return text.strip()


def _sender_name(value: Any) -> str:
    """The name the text message opens with: plain GSM letters, short enough for two parts."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("sms.sender_name must be a name such as '999 Control Room'")
    try:
        septets = len(value.encode("gsm03.38"))
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"sms.sender_name {value!r} has {value[exc.start]!r}, which is not in the GSM 03.38 SMS"
            " alphabet: it would make every text message take twice as many parts"
        ) from None
    if septets > SMS_SENDER_MAX:
        raise ConfigError(
            f"sms.sender_name may be at most {SMS_SENDER_MAX} characters ({value!r} is {septets};"
            " € [ ] { } \\ ~ ^ | count as 2): a longer name makes the link's text message take"
            " more than two SMS parts"
        )
    return value


def _map_settings(table: Mapping[str, Any], env: Mapping[str, str], center: Any, base: Path) -> MapSettings:
    os_layer = table.get("os_layer") or None
    if os_layer is not None and os_layer not in OS_LAYERS:
        raise ConfigError(f"map.os_layer must be one of {', '.join(OS_LAYERS)}, not {os_layer!r}")
    key = env.get("SCENELINK_OS_API_KEY") if os_layer else env.get("SCENELINK_TILE_KEY")
    key = key or table.get("os_api_key" if os_layer else "tile_key") or None
    if os_layer and not key:
        raise ConfigError("map.os_layer needs the OS Maps API key in SCENELINK_OS_API_KEY (or map.os_api_key)")
    tile_url = table.get("tile_url") or None
    if tile_url is not None and not all(p in tile_url for p in ("{z}", "{x}", "{y}")):
        raise ConfigError("map.tile_url must hold {z}, {x} and {y}")
    if tile_url is not None and not tile_url.startswith(("https://", "http://")):
        raise ConfigError("map.tile_url must be an http(s) URL")

    def path(name: str) -> Path | None:
        value = table.get(name)
        return None if not value else (Path(value) if Path(value).is_absolute() else (base / value).resolve())

    tile_crs = str(table.get("tile_crs") or ("EPSG:27700" if (os_layer or "").endswith("_27700") else "EPSG:3857"))
    if tile_crs not in ("EPSG:3857", "EPSG:27700"):
        raise ConfigError(f"map.tile_crs must be EPSG:3857 or EPSG:27700, not {tile_crs!r}")
    resolutions = tuple(float(r) for r in table.get("tile_resolutions", ()))
    if tile_crs == "EPSG:27700" and not resolutions:
        resolutions = OS_27700_RESOLUTIONS
    origin = table.get("tile_origin", (-238375.0, 1376256.0))
    max_zoom_default = len(resolutions) - 1 if tile_crs == "EPSG:27700" else 19
    return MapSettings(
        tile_crs=tile_crs,
        tile_resolutions=resolutions,
        tile_origin=(float(origin[0]), float(origin[1])),
        tile_url=tile_url,
        tile_attribution=table.get("tile_attribution", ""),
        tile_key=key,
        tile_max_zoom=_int(table.get("tile_max_zoom", max_zoom_default), "map.tile_max_zoom"),
        os_layer=os_layer,
        pmtiles=path("pmtiles"),
        streets=path("streets"),
        tile_cache_days=_int(table.get("tile_cache_days", 30), "map.tile_cache_days"),
        center=(float(center[0]), float(center[1])),
        zoom=_int(table.get("zoom", 10), "map.zoom"),
    )


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from exc


def _positive(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}") from exc
    if not number > 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return number


def _path(value: str | None, base: Path) -> Path | None:
    if not value:
        return None
    p = Path(value)
    return p if p.is_absolute() else base / p
