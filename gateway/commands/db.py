"""``scenelink db``: the record's database schema.

    scenelink db upgrade     bring the database up to this release's schema (the gateway also
                             does this when it starts)
    scenelink db current     say which revision the database is at; exit status 0 when it is up
                             to date, 1 when ``db upgrade`` has work to do

A database made by a release before migrations (no ``alembic_version`` table) is recognised and
brought up to date from the baseline. Take a backup first: see docs/deployment.md, "Upgrades".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# asyncio and SQLAlchemy are imported where they are used: every ``scenelink`` command imports this
# module to register ``db``, and ``geocode`` must start without them.


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db", help="migrate the record's database", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("upgrade", help="migrate the database to this release's schema").set_defaults(func=_upgrade)
    actions.add_parser("current", help="show the database's schema revision").set_defaults(func=_current)


def _settings(args: argparse.Namespace) -> Any:
    from ..config import load_settings, with_database

    settings = with_database(load_settings(args.config))
    if settings.database_url.startswith("sqlite"):
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return settings


def _url(args: argparse.Namespace) -> str:
    return str(_settings(args).database_url)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _state(url: str) -> tuple[str | None, bool]:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from ..record.migrate import current, has_tables

    async def run() -> tuple[str | None, bool]:
        engine = create_async_engine(url)
        try:
            return await current(engine), await has_tables(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _describe(revision: str | None, tables: bool) -> str:
    if revision is not None:
        return revision
    return "none (a database made before migrations)" if tables else "none (empty database)"


def _upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from ..record.migrate import head, upgrade
    from ..sms.outbox import mask_folder

    settings = _settings(args)
    url = str(settings.database_url)
    before = _describe(*_state(url))

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    after, _ = _state(url)
    print(f"{_shown(url)}: {before} -> {after}" if before != after else f"{_shown(url)}: already at {after}")
    masked = mask_folder(settings.outbox_dir)  # files of releases that kept links whole
    if masked:
        print(f"{settings.outbox_dir}: link tokens masked in {masked} outbox files")
    return 0 if after == head() else 1


def _current(args: argparse.Namespace) -> int:
    from ..record.migrate import head

    url = _url(args)
    revision, tables = _state(url)
    newest = head()
    if revision == newest:
        print(f"{_shown(url)}: {revision} (up to date)")
        return 0
    print(f"{_shown(url)}: {_describe(revision, tables)}; this release expects {newest}: run `scenelink db upgrade`",
          file=sys.stdout)
    return 1
