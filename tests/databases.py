"""The databases the record is tested on: SQLite in a temporary file, and the machine's PostgreSQL.

PostgreSQL is reached through its Unix socket (``tests/netns-run`` hides TCP 127.0.0.1), as the
``postgres`` user with trust authentication. Each test module gets a database of its own, created
and migrated here and dropped afterwards; each test starts with every table empty. Under ``CI=true``
and ``make test`` an unreachable PostgreSQL fails the tests that need it instead of skipping them
(tests/strict.py).
"""

from __future__ import annotations

import asyncio
import os
import secrets

from .strict import require

POSTGRES_SOCKET = os.environ.get("SCENELINK_TEST_PG_SOCKET", "/var/run/postgresql")
POSTGRES_USER = "postgres"


def postgres_url(database: str) -> str:
    return f"postgresql+asyncpg://{POSTGRES_USER}@/{database}?host={POSTGRES_SOCKET}"


async def _admin(sql: str, database: str = "postgres") -> None:
    import asyncpg

    conn = await asyncpg.connect(host=POSTGRES_SOCKET, user=POSTGRES_USER, database=database, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_admin(sql: str, database: str = "postgres") -> None:
    asyncio.run(_admin(sql, database))


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        run_admin("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the answer
        return f"PostgreSQL unreachable on {POSTGRES_SOCKET}: {exc!r}"
    return None


def require_postgres() -> None:
    reason = postgres_unavailable()
    require(reason is None, reason or "")


def create_database() -> str:
    """A new, empty PostgreSQL database; returns its name."""
    name = f"slt_{os.getpid()}_{secrets.token_hex(4)}"
    run_admin(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(name: str) -> None:
    """Bring the database to the newest schema, as the gateway does at start."""
    from gateway.record import Database

    async def run() -> None:
        db = await Database.open(postgres_url(name))
        await db.close()

    asyncio.run(run())


def clear_rows(name: str) -> None:
    """Delete every row (children first) and restart the id sequences; the migrated schema and
    ``alembic_version`` stay.

    Cheaper than migrating again for each test: PostgreSQL takes tens of milliseconds per CREATE
    TABLE on this shared machine, a few for a DELETE on a small table.
    """
    from gateway.record.schema import metadata

    tables = [t.name for t in reversed(metadata.sorted_tables)]
    restart = (
        "DO $$DECLARE s record; BEGIN FOR s IN SELECT sequencename FROM pg_sequences"
        " WHERE schemaname = 'public' LOOP EXECUTE format('ALTER SEQUENCE %I RESTART', s.sequencename);"
        " END LOOP; END$$"
    )
    run_admin(";".join([*(f'DELETE FROM "{t}"' for t in tables), restart]), database=name)
