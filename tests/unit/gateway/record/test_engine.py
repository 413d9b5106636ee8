"""The database connection as configured: PostgreSQL's pool sized from the settings, SQLite's own."""

from __future__ import annotations

from gateway.config import load_settings
from gateway.record import Database
from gateway.record.database import engine_options
from tests import databases


def test_the_pool_settings_come_from_the_environment_or_the_file(tmp_path):
    env = {"SCENELINK_DATA_DIR": str(tmp_path), "SCENELINK_DATABASE_POOL_SIZE": "12",
           "SCENELINK_DATABASE_MAX_OVERFLOW": "3"}
    settings = load_settings(environ=env)
    assert (settings.database_pool_size, settings.database_max_overflow) == (12, 3)
    defaults = load_settings(environ={"SCENELINK_DATA_DIR": str(tmp_path)})
    assert (defaults.database_pool_size, defaults.database_max_overflow) == (5, 10)


def test_sqlite_keeps_its_own_pool():
    assert engine_options("sqlite+aiosqlite:///x.db", 12, 3) == {}


async def test_postgresql_gets_the_configured_pool(postgres_database):
    url = databases.postgres_url(postgres_database)
    db = await Database.open(url, **engine_options(url, 7, 2))
    try:
        assert db.engine.pool.size() == 7
        assert db.engine.pool._max_overflow == 2  # noqa: SLF001 - no public accessor
        assert db.engine.pool._pre_ping  # noqa: SLF001
    finally:
        await db.close()
