"""Builds the aiohttp application: opens the record, loads the boundaries, wires every part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from gis import Placer

from .addresses import parse_networks
from .auth import Role, hash_password, new_secret
from .caller.aml_intake import AmlIntake
from .caller.callers import Callers
from .config import Settings, with_database
from .events import make_event_bus
from .ice import IceServers
from .live import LiveSessions
from .lockout import Lockout
from .metrics import Metrics
from .nodes import Holder, SessionDirectory, make_directory
from .passwords import PasswordPool
from .record import Accounts, BlobStore, Database, Incidents
from .record.aml import AmlRecords
from .record.checkpoints import Checkpoints
from .record.database import engine_options, utcnow
from .record.outbox import Outbox
from .record.purge import Retention
from .record.signing import load_or_create_key
from .shared_limits import make_limits
from .sms import close_sender, make_sender
from .sms.outbox import mask_folder
from .tasks import TaskSet
from .web import (
    admin,
    aml,
    auth,
    caller,
    embed,
    exports,
    forwarding,
    incidents,
    live,
    maps,
    media,
    messages,
    nodes,
    openapi,
    ops,
    pages,
    retention,
    serving,
    sms_receipts,
    tiles,
    webhooks,
)
from .web.keys import (
    ACCOUNTS,
    AML,
    BLOBS,
    CALLERS,
    CHECKPOINTS,
    DATABASE,
    DIRECTORY,
    DRAINING,
    EVENTS,
    ICE,
    INCIDENTS,
    LIMITS,
    LIVE,
    LOGIN_LOCKOUT,
    METRICS,
    OUTBOX,
    PASSWORDS,
    PLACER,
    RETENTION,
    SETTINGS,
    SMS,
    THROTTLE,
    WEBHOOKS,
)
from .web.security import TRUSTED_PROXIES, Throttle, content_security_policy, json_errors, security_headers
from .webhooks import Webhooks

log = logging.getLogger(__name__)

EXPIRY_SWEEP_SECONDS = 15
MAX_REQUEST_BYTES = 256 * 1024


def load_placer(settings: Settings) -> Placer:
    return Placer.from_config(dict(settings.boundaries), settings.boundaries_base)


def build_app(settings: Settings, placer: Placer | None = None) -> web.Application:
    settings = with_database(settings)
    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,
        middlewares=[
            security_headers(content_security_policy(None),  # tiles come through the gateway
                              settings.public_url.startswith("https://")),
            serving.track_requests,
            json_errors,
            auth.operators_only,
            forwarding.to_the_holder,
        ],
    )
    app[SETTINGS] = settings
    app[EVENTS] = make_event_bus(settings.redis_url, settings.node_name)
    app[DRAINING] = asyncio.Event()
    app[THROTTLE] = Throttle()
    login = settings.login
    app[LOGIN_LOCKOUT] = Lockout(login.max_failures, login.window_seconds, login.lockout_seconds)
    app[LIMITS] = make_limits(settings.redis_url, app[THROTTLE], app[LOGIN_LOCKOUT])
    app[PASSWORDS] = PasswordPool(login.hash_threads, login.hash_queue)
    app.on_cleanup.append(_close_password_pool)
    app[TRUSTED_PROXIES] = parse_networks(settings.trusted_proxies)
    app[PLACER] = placer or load_placer(settings)
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(tiles.client_context)
    app.on_shutdown.append(_drain)
    live.track_streams(app)  # after the drain: consoles' event streams are ended once the callers moved
    for table in (
        auth.routes,
        admin.routes,
        pages.routes,
        incidents.routes,
        live.routes,
        caller.routes,
        sms_receipts.routes,
        media.routes,
        embed.routes,
        messages.routes,
        exports.routes,
        webhooks.routes,
        ops.routes,
        maps.routes,
        nodes.routes,
        retention.routes,
        tiles.routes,
        aml.routes,
        openapi.routes,
    ):
        app.add_routes(table)
    pages.add_static(app)
    return app


async def _close_password_pool(app: web.Application) -> None:
    app[PASSWORDS].close()


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # the record, blobs and outbox: for the gateway's user only
    db = await Database.open(
        settings.database_url,
        **engine_options(settings.database_url, settings.database_pool_size, settings.database_max_overflow),
    )
    app[DATABASE] = db
    # Outbox files from releases that kept links whole (the database's copies are masked by its migration).
    await asyncio.to_thread(mask_folder, settings.outbox_dir)
    await app[EVENTS].start()
    app[METRICS] = Metrics(app[EVENTS], lambda: ops.app_gauges(app))
    app[METRICS].start()
    app[ACCOUNTS] = Accounts(db)
    app[INCIDENTS] = Incidents(db)
    app[BLOBS] = BlobStore(settings.blob_dir)
    app[OUTBOX] = Outbox(db)
    app[AML] = AmlIntake(AmlRecords(db), app[EVENTS], app[PLACER], settings.aml_window_seconds)
    app[WEBHOOKS] = Webhooks(app[OUTBOX], app[EVENTS], settings.webhooks, settings.node_name)
    app[WEBHOOKS].start()
    app[SMS] = make_sender(settings)
    app[ICE] = IceServers(settings)
    app[LIVE] = LiveSessions(
        app[INCIDENTS], app[EVENTS], app[PLACER], app[BLOBS],
        app[ICE].gateway_servers(), settings.session_max_seconds, settings.media,
        settings.data_dir / "work",
    )
    app[CALLERS] = Callers(db, app[INCIDENTS], app[EVENTS], app[LIVE], app[BLOBS], settings.session_max_seconds)
    app[CALLERS].start()
    app[DIRECTORY] = make_directory(settings.redis_url, settings.node_name, settings.node_url)
    app[DIRECTORY].on_taken_over(_taken_over(app))
    await app[DIRECTORY].start(
        app[EVENTS], lambda: [(i, s.session_id) for i, s in app[LIVE].by_incident.items()]
    )
    await _close_orphans(app[INCIDENTS], app[DIRECTORY])
    await ensure_admin(app[ACCOUNTS], settings.admin_password)
    key = await asyncio.to_thread(load_or_create_key, settings.signing_key_path)
    app[CHECKPOINTS] = Checkpoints(db, key)
    sweeper = asyncio.ensure_future(_sweep_expired(app))
    record_tasks = TaskSet("record")
    record_tasks.spawn(_sign_checkpoints(app[CHECKPOINTS], settings.record.checkpoint_interval_seconds))
    app[RETENTION] = Retention(db, app[BLOBS], settings.retention, settings.outbox_dir)
    record_tasks.spawn(_purge(app[RETENTION], settings.retention.purge_interval_seconds))
    try:
        yield
    finally:
        await record_tasks.cancel()
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await app[LIVE].close_all()
        await app[CALLERS].close()
        await app[WEBHOOKS].close()  # after the parts that publish, so their last events are queued
        await app[DIRECTORY].close()
        await app[LIMITS].close()
        await close_sender(app[SMS])
        await app[METRICS].close()
        await app[EVENTS].close()
        await db.close()


async def ensure_admin(accounts: Accounts, password: str | None) -> str | None:
    """On first start, create the ``admin`` operator. Returns a generated password, if one was made.

    No password ships with the gateway: it is taken from ``SCENELINK_ADMIN_PASSWORD`` or generated
    and printed once.
    """
    if await accounts.count_operators() > 0:
        return None
    generated = None
    if not password:
        password = generated = new_secret(12)
    await accounts.add_operator(
        "admin", Role.ADMIN.value, await asyncio.to_thread(hash_password, password), "gateway",
        must_change=generated is not None,
    )
    if generated:
        print(
            f"\n  First start: created operator 'admin' with one-time password: {generated}\n"
            "  Sign in to choose a new password, then add named operators with\n"
            "  `scenelink users add NAME --role ROLE`.\n",
            flush=True,
        )
    return generated


async def _close_orphans(incidents: Incidents, directory: SessionDirectory) -> None:
    # A session left open by a crash or restart has no peer connection any more, unless another
    # live node holds it (several nodes share the record).
    sessions = await incidents.open_sessions()
    elsewhere = await directory.held_elsewhere(s["id"] for s in sessions)
    for session in sessions:
        if session["id"] not in elsewhere:
            await incidents.end_session(session["id"], "gateway", "gateway restarted")


def _taken_over(app: web.Application) -> Callable[[Holder, str], Awaitable[None]]:
    async def ended_elsewhere(previous: Holder, incident_id: str) -> None:
        # The caller's page reconnected here: the session the other node held is over, whether
        # that node died (nothing else would end it) or drained (then it is already ended).
        await app[INCIDENTS].end_session(
            previous.session_id, "gateway", f"caller reconnected to node {app[SETTINGS].node_name}"
        )

    return ended_elsewhere


async def _drain(app: web.Application) -> None:
    """On SIGTERM (once this node has stopped accepting connections): ask each caller's page to
    reconnect, which lands it on another node, and wait for them to arrive there (up to a limit).
    A lone node has no other to wait for: its callers reconnect once it (or its successor) is back."""
    app[DRAINING].set()
    live = app.get(LIVE)
    if live is None or not live.by_incident:
        return
    moving = list(live.by_incident)
    directory = app[DIRECTORY]
    if not directory.shared:
        log.info("draining: asking %d caller(s) to reconnect when the gateway is back", len(moving))
        await live.close_all("this node is draining")
        return
    log.info("draining: asking %d caller(s) to reconnect to another node", len(moving))
    await live.close_all("this node is draining")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + app[SETTINGS].drain_seconds
    while moving and loop.time() < deadline:
        moving = [i for i in moving if await directory.holder(i) is None]
        if moving:
            await asyncio.sleep(0.2)
    if moving:
        log.warning("draining: %d caller(s) had not reconnected elsewhere when the limit ran out", len(moving))


async def _sweep_expired(app: web.Application) -> None:
    while True:
        try:
            # One query finds both kinds of link due; an idle sweep costs the database nothing more.
            now = utcnow()
            due = await app[INCIDENTS].due_links(now, app[CALLERS].session_cutoff(now))
            for incident_id, link_id in await app[INCIDENTS].expire_links(now, due.expiring):
                app[EVENTS].publish("link.state", incident_id, {"link_id": link_id, "state": "expired"})
            await app[CALLERS].sweep(due.overlong)
        except Exception:
            log.exception("link expiry sweep failed")
        await asyncio.sleep(EXPIRY_SWEEP_SECONDS)


async def _sign_checkpoints(checkpoints: Checkpoints, interval: float) -> None:
    """Sign the chain's head now and then every ``interval`` seconds, when it has moved."""
    while True:
        try:
            signed = await checkpoints.sign_head("interval")
            if signed:
                log.info("audit chain head signed at entry %s", signed["seq"])
        except Exception:
            log.exception("signing the audit chain's head failed")
        await asyncio.sleep(interval)


async def _purge(retention: Retention, interval: float) -> None:
    """Run the retention purge every ``interval`` seconds (held incidents are left alone)."""
    while True:
        try:
            await retention.purge()
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(interval)
