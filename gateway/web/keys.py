"""Typed keys for what the application holds (aiohttp wants ``web.AppKey``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gis import Placer

from ..caller.aml_intake import AmlIntake
from ..caller.callers import Callers
from ..config import Settings
from ..events import EventBus
from ..ice import IceServers
from ..live import LiveSessions
from ..lockout import Lockout
from ..metrics import Metrics
from ..nodes import SessionDirectory
from ..passwords import PasswordPool
from ..record import Accounts, BlobStore, Database, Incidents
from ..record.checkpoints import Checkpoints
from ..record.outbox import Outbox
from ..record.purge import Retention
from ..shared_limits import Limits
from ..sms import SmsSender
from ..webhooks import Webhooks
from .security import Throttle

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
ACCOUNTS = web.AppKey("accounts", Accounts)
INCIDENTS = web.AppKey("incidents", Incidents)
BLOBS = web.AppKey("blobs", BlobStore)
EVENTS = web.AppKey("events", EventBus)
PLACER = web.AppKey("placer", Placer)
SMS = web.AppKey("sms", SmsSender)
LIVE = web.AppKey("live", LiveSessions)
THROTTLE = web.AppKey("throttle", Throttle)
CALLERS = web.AppKey("callers", Callers)
AML = web.AppKey("aml", AmlIntake)
OUTBOX = web.AppKey("outbox", Outbox)
WEBHOOKS = web.AppKey("webhooks", Webhooks)
LOGIN_LOCKOUT = web.AppKey("login_lockout", Lockout)
PASSWORDS = web.AppKey("passwords", PasswordPool)
CHECKPOINTS = web.AppKey("checkpoints", Checkpoints)
RETENTION = web.AppKey("retention", Retention)
OPERATOR = web.RequestKey("operator", dict)
METRICS = web.AppKey("metrics", Metrics)
# Set while the node drains (SIGTERM): /readyz says "not ready" so the proxy sends new work elsewhere.
DRAINING = web.AppKey("draining", asyncio.Event)
DIRECTORY = web.AppKey("directory", SessionDirectory)
LIMITS = web.AppKey("limits", Limits)
ICE = web.AppKey("ice", IceServers)
