"""Bringing a record's database up to the schema this release expects (Alembic migrations).

The gateway migrates at start (:meth:`Database.open`), and ``scenelink db upgrade`` does the same
on its own. A database made before migrations existed (by ``metadata.create_all``, with no
``alembic_version`` table) is taken from the baseline revision, which adds what it lacks.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# Any fixed number: the key of the PostgreSQL advisory lock that lets one process migrate at a time.
_MIGRATION_LOCK = 0x5CE7E11C


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "gateway.record:migrations")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision this release knows."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {heads}")
    return heads[0]


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` in one transaction where the
    database allows (PostgreSQL; SQLite commits each DDL statement)."""
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A table rebuild (batch mode) drops a table that others refer to and renames its copy
            # into place; SQLite checks the foreign keys once, after the migration, instead.
            await _sqlite_foreign_keys(conn, False)
        try:
            # SQLite: BEGIN IMMEDIATE (see database._sqlite_writer_lock), so a second process waits.
            await conn.execution_options(scenelink_writer=True)
            async with conn.begin():
                await conn.run_sync(_upgrade, revision)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"the migration left rows referring to nothing: {broken[:5]}")
        finally:
            if sqlite:
                await _sqlite_foreign_keys(conn, True)


async def _sqlite_foreign_keys(conn, on: bool) -> None:
    # Outside any transaction (SQLite ignores this PRAGMA inside one): straight on the driver.
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _upgrade(conn: Connection, revision: str) -> None:
    if conn.dialect.name == "postgresql":
        # Two gateways starting together must not both create the tables; released at commit.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None for an empty database or one made before migrations."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def has_tables(engine: AsyncEngine) -> bool:
    from sqlalchemy import inspect

    async with engine.connect() as conn:
        return bool(await conn.run_sync(lambda c: inspect(c).get_table_names()))
