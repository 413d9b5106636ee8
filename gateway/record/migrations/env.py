"""Alembic's environment for the record: runs migrations on the connection it is handed.

``gateway.record.migrate`` hands over a connection of the gateway's own engine (so ``Database.open``
and ``scenelink db upgrade`` migrate through exactly the engine the gateway uses). Run from the
``alembic`` command line instead, it builds an engine from ``sqlalchemy.url``: an async one for
``sqlite+aiosqlite`` and ``postgresql+asyncpg``, a plain one for synchronous drivers.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import async_engine_from_config

from gateway.record.schema import metadata

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(section: dict) -> None:
    engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        return
    section = config.get_section(config.config_ini_section) or {}
    url = make_url(section["sqlalchemy.url"])
    if url.get_dialect().is_async:
        asyncio.run(_run_async(section))
    else:
        engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.begin() as connection:
            _configure(connection)
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
