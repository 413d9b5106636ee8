"""Shared test helpers: the private test network, and the record's databases on both dialects."""

from __future__ import annotations

import ipaddress

import aiohttp.web_app
import ifaddr
import pytest

from tests import databases

# The hooks that turn a missing requirement into a failure where the whole suite must run.
from .strict import pytest_configure, pytest_runtest_setup, require, requires

pytest_plugins = ["pytester"]

__all__ = [
    "TEST_NET", "needs_test_network", "on_private_test_network", "pytest_configure", "pytest_runtest_setup",
    "require", "requires",
]

TEST_NET = ipaddress.ip_network("10.99.0.0/24")


def on_private_test_network() -> bool:
    """True inside the network namespace made by ``tests/netns-run``.

    WebRTC peers gather every non-loopback address; outside the namespace that would send test
    traffic to this machine's real interfaces, which tests must never do.
    """
    found = False
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: aioice ignores link-local, and the namespace has no other
            address = ipaddress.ip_address(ip.ip)
            if address.is_loopback:
                continue
            if address not in TEST_NET:
                return False
            found = True
    return found


needs_test_network = requires(
    on_private_test_network(),
    "WebRTC tests run only inside the private network namespace: use `make test` (tests/netns-run)",
)


@pytest.fixture(autouse=True)
def _forget_finished_apps():
    """Let each test's application go when the test ends.

    aiohttp memoises every (handler, application chain) pair it builds middlewares for, up to 1,024
    of them. A gateway serves one application for its life, so that costs nothing; a test run builds
    hundreds, and the memo kept each one alive with its database engine, routes and media, growing
    the run's heap by gigabytes and every garbage collection with it.
    """
    yield
    aiohttp.web_app._cached_build_middleware.cache_clear()


# -- the record's databases ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_database():
    """A PostgreSQL database for this test module, dropped after it."""
    databases.require_postgres()
    name = databases.create_database()
    databases.migrate(name)
    yield name
    databases.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The record's URL on each dialect in turn: migrated (or, for SQLite, not yet made), no rows."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'record.db'}"
    name = request.getfixturevalue("postgres_database")
    databases.clear_rows(name)
    return databases.postgres_url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_database_url(request, tmp_path):
    """A database with no tables at all, not even migrations' (for tests of migrating)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bare.db'}"
        return
    databases.require_postgres()
    name = databases.create_database()
    yield databases.postgres_url(name)
    databases.drop_database(name)
