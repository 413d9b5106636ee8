"""The database handle and the hash-chained audit log that every other part writes through."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import Connection, Engine, create_engine, event, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .chain import (
    CURRENT,
    GENESIS,
    ChainBreak,
    ChainChecker,
    detail_digest,
    entry_hash_v2,
    redact_for,
    sha256_hex,
    verify_chain,
)
from .chain import (
    canonical as chain_canonical,
)
from .group_commit import BatchWriter, GroupCommit
from .migrate import upgrade
from .schema import audit

__all__ = [
    "GENESIS", "ChainBreak", "Database", "aware", "canonical", "iso", "new_id", "redact_for",
    "sha256_hex", "utcnow", "verify_chain",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...


@overload
def aware(value: None) -> None: ...


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in the record is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def inserted_id(result: Any) -> int:
    """The primary key an INSERT of one row generated."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])


def iso(value: datetime | None) -> str | None:
    value = aware(value)
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def canonical(obj: Any) -> str:
    """JSON for stored values (``default=str`` lets a datetime through; hashes use chain.canonical)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


# Any 64-bit constant unique to this application: the PostgreSQL advisory lock held by every write
# transaction, so that one writer at a time, on any node, reads and extends the chain's head.
WRITER_LOCK = 0x5CE1E_C4A1

R = TypeVar("R")

log = logging.getLogger(__name__)

# SQLite's busy timeout: how long a statement waits for another process's lock before failing with
# "database is locked". Within one process writers queue on Database._writer instead, so this is
# only another process's lock (a command run beside the gateway). It is kept well under an anonymous
# request's budget (gateway/web/serving.py, 30 s): a writer that cannot have the lock fails with an
# error the handler answers rather than being cancelled by the request's deadline while it waits.
BUSY_TIMEOUT_MS = 10_000

# A writer that has queued this long behind another is logged, naming the one it waits for.
WRITER_WAIT_WARNING_SECONDS = 5.0

# The most items one group-committed write transaction takes (gateway/record/group_commit.py): a
# bound on one statement's size, far above what arrives while one transaction is written.
BATCH_LIMIT = 200


def engine_options(url: str, pool_size: int, max_overflow: int) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured pool (a server database's; SQLite keeps its own)."""
    if url.startswith("sqlite"):
        return {}
    # pre_ping: a connection the server dropped (a restart, a failover) is replaced, not handed out.
    return {"pool_size": pool_size, "max_overflow": max_overflow, "pool_pre_ping": True}


class Database:
    """An async SQLAlchemy engine plus the audit chain.

    Writers that must appear in the audit log call :meth:`audit` inside a transaction opened with
    :meth:`begin`, so the item and its audit entry land together or not at all. Every such
    transaction holds the database's writer lock from its first statement (SQLite: ``BEGIN
    IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so two processes or two nodes
    never read the same head and fork the chain.

    Within one process the writers queue on an asyncio lock *before* they take a pooled
    connection: only one of this process's connections ever waits on the database's lock, so
    writers queueing there can neither fill the pool (starving the writer that holds the lock of
    the connections its reads need) nor run out SQLite's busy timeout behind each other.

    The busiest writers (fixes, snapshots) write through :meth:`write_sync` under the same locks,
    fixes group-committed (:meth:`group`, gateway/record/group_commit.py).

    A writer cancelled anywhere (a request's deadline) leaves the locks free once its task has
    ended: :meth:`begin` rolls back and closes its connection first, and :meth:`write_sync` waits
    for its thread's transaction to end before the cancellation goes on.
    """

    def __init__(self, engine: AsyncEngine, batch_limit: int = BATCH_LIMIT) -> None:
        self.engine = engine
        # SQLite: the same file through the standard driver, for write transactions run whole in
        # one thread (see write_sync); None elsewhere.
        self._sync_engine: Engine | None = None
        self._sync_thread: ThreadPoolExecutor | None = None
        url = engine.url
        if engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:"):
            self._sync_engine = create_engine(
                url.set(drivername="sqlite+pysqlite"), connect_args=_sqlite_connect_args(None)
            )
            _sqlite_writer_lock(self._sync_engine)
            self._sync_thread = ThreadPoolExecutor(1, thread_name_prefix="record-writer")
        self._writer = asyncio.Lock()
        self._writer_task: asyncio.Task[Any] | None = None
        self.writer_wait_warning = WRITER_WAIT_WARNING_SECONDS
        self.dialect = engine.dialect.name
        # The most items one group-committed transaction takes (1: each item its own transaction).
        self.batch_limit = batch_limit
        self._groups: dict[str, GroupCommit[Any, Any]] = {}

    @classmethod
    async def open(
        cls, url: str, *, migrate: bool = True, batch_limit: int = BATCH_LIMIT, **engine_options: Any
    ) -> Database:
        """Connect to the record at ``url`` and bring its schema up to date (Alembic migrations).

        ``engine_options`` go to SQLAlchemy's engine (for PostgreSQL: ``pool_size``,
        ``max_overflow``...). With ``migrate=False`` the schema is taken as it is.
        ``batch_limit``: the most items (fixes) one group-committed transaction writes.
        """
        if make_url(url).get_backend_name() == "sqlite":
            engine_options["connect_args"] = _sqlite_connect_args(engine_options.get("connect_args"))
        engine = create_async_engine(url, **engine_options)
        if engine.dialect.name == "sqlite":
            _sqlite_writer_lock(engine.sync_engine)
        if migrate:
            await upgrade(engine)
        return cls(engine, batch_limit)

    async def close(self) -> None:
        for group in self._groups.values():
            await group.idle()
        if self._sync_thread is not None:
            self._sync_thread.shutdown()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        await self.engine.dispose()

    def group(self, name: str, write: BatchWriter[Any, Any]) -> GroupCommit[Any, Any]:
        """This handle's group commit called ``name`` (made on first use, with ``write``)."""
        if name not in self._groups:
            self._groups[name] = GroupCommit(self, write)
        return self._groups[name]

    def batches(self, name: str) -> int:
        """How many transactions the group commit called ``name`` has committed."""
        group = self._groups.get(name)
        return group.batches if group else 0

    def writing_in_this_task(self) -> bool:
        """Whether the running task holds this handle's write transaction."""
        task = asyncio.current_task()
        return task is not None and self._writer_task is task

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, holding the writer lock from its start to its commit.

        Not re-entrant: a task that opens a write transaction inside its own would wait for
        itself, so that is refused at once.
        """
        if self.writing_in_this_task():
            raise RuntimeError("a write transaction was opened inside another in the same task")
        async with self._queue_for_writer():
            self._writer_task = asyncio.current_task()
            try:
                # Cancelled anywhere in here (a request's deadline), SQLAlchemy closes the connection
                # to completion before the cancellation goes on, and closing rolls back at once
                # (_RollingBackConnection): the lock is free by the time the next writer has it.
                async with self.engine.connect() as conn:
                    await conn.execution_options(scenelink_writer=True)
                    async with conn.begin():
                        if self.dialect == "postgresql":
                            await conn.execute(
                                text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK}
                            )
                        yield conn
            finally:
                self._writer_task = None

    def connect(self):
        return self.engine.connect()

    async def write_sync(self, write: Callable[[Connection], R]) -> R:
        """Run ``write(conn)`` as one write transaction (as :meth:`begin` gives) on a synchronous
        connection, and return what it returns once committed.

        On SQLite the whole transaction runs in one call to a thread of its own: one hand-over
        instead of three or four for each statement through aiosqlite, each of which waits its
        turn for a core on a busy machine. On PostgreSQL it runs through :meth:`begin` (asyncpg
        makes each statement one round trip either way).
        """
        if self._sync_engine is None or self._sync_thread is None:
            async with self.begin() as conn:
                return await conn.run_sync(write)
        if self.writing_in_this_task():
            raise RuntimeError("a write transaction was opened inside another in the same task")
        sync_engine = self._sync_engine

        def transaction() -> R:
            with sync_engine.connect() as conn:
                conn = conn.execution_options(scenelink_writer=True)
                with conn.begin():
                    return write(conn)

        async with self._queue_for_writer():
            self._writer_task = asyncio.current_task()
            try:
                # The thread cannot be stopped: a caller cancelled meanwhile keeps the writer lock
                # until the transaction is over (committed, as the write was), and only then sees
                # its cancellation. Released at once, the lock would let the next writer take a
                # connection and wait on SQLite's lock behind a transaction nobody waits for.
                return await _outlast_cancellation(
                    asyncio.get_running_loop().run_in_executor(self._sync_thread, transaction)
                )
            finally:
                self._writer_task = None

    @asynccontextmanager
    async def _queue_for_writer(self) -> AsyncIterator[None]:
        """Hold this process's writer lock; a writer kept waiting long is logged with whom it waits for."""
        warning = None
        if self._writer.locked():
            warning = asyncio.get_running_loop().call_later(
                self.writer_wait_warning, self._warn_of_wait, asyncio.current_task()
            )
        try:
            await self._writer.acquire()
        finally:
            if warning is not None:
                warning.cancel()
        try:
            yield
        finally:
            self._writer.release()

    def _warn_of_wait(self, waiting: asyncio.Task[Any] | None) -> None:
        holder = self._writer_task
        where = "; ".join(
            f"{frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})"
            for frame in (holder.get_stack(limit=3) if holder is not None else [])
        )
        log.warning(
            "a writer (%s) has waited %.0f s for the record's write lock, held by %s%s",
            waiting.get_name() if waiting is not None else "?", self.writer_wait_warning,
            holder.get_name() if holder is not None else "no task (a transaction being closed)",
            f", at {where}" if where else "",
        )

    async def audit(
        self,
        conn: AsyncConnection,
        actor: str,
        action: str,
        incident_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> str:
        """Append one entry to the chain within ``conn``'s transaction (from :meth:`begin`); returns its hash."""
        return (await self.audit_many(conn, [(actor, action, incident_id, detail)]))[0]

    async def audit_many(
        self, conn: AsyncConnection, entries: Sequence[tuple[str, str, str | None, Mapping[str, Any] | None]]
    ) -> list[str]:
        """Append ``(actor, action, incident_id, detail)`` entries to the chain, in order, within
        ``conn``'s transaction: the head read once, the entries inserted in one statement.
        Returns their hashes."""
        rows = chain_rows((await conn.execute(_HEAD)).first(), entries)
        if rows:
            await conn.execute(_APPEND, rows)
        return [row["hash"] for row in rows]

    async def record_action(
        self, actor: str, action: str, incident_id: str | None = None, **detail: Any
    ) -> str:
        """Audit an action that writes nothing else."""
        async with self.begin() as conn:
            return await self.audit(conn, actor, action, incident_id, detail)

    async def audit_entries(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        query = select(audit).order_by(audit.c.seq)
        if incident_id is not None:
            query = query.where(audit.c.incident_id == incident_id)
        async with self.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [entry_json(row) for row in rows]

    async def stream_entries(
        self, after: int = 0, until: int | None = None, batch: int = 5000
    ) -> AsyncIterator[dict[str, Any]]:
        """The chain in order from entry ``after + 1`` (to ``until``), a batch at a time (a chain
        may hold millions of entries)."""
        while True:
            async with self.connect() as conn:
                rows = (
                    await conn.execute(
                        select(audit).where(audit.c.seq > after).order_by(audit.c.seq).limit(batch)
                    )
                ).mappings().all()
            for row in rows:
                if until is not None and row["seq"] > until:
                    return
                yield entry_json(row)
            if len(rows) < batch:
                return
            after = int(rows[-1]["seq"])

    async def chain_for(
        self, incident_id: str, until: int | None = None, batch: int = 5000
    ) -> AsyncIterator[dict[str, Any]]:
        """The chain in order (to entry ``until``) as an evidence bundle shows it (what
        :func:`redact_for` makes of :meth:`stream_entries`), read a batch at a time: every other
        incident's entries are only their sequence numbers and hashes, and their details are never
        read from the database."""
        after = 0
        while True:
            query = select(audit.c.seq, audit.c.prev_hash, audit.c.hash, audit.c.incident_id).where(audit.c.seq > after)
            if until is not None:
                query = query.where(audit.c.seq <= until)
            async with self.connect() as conn:
                links = (await conn.execute(query.order_by(audit.c.seq).limit(batch))).all()
                own: dict[int, dict[str, Any]] = {}
                if any(row.incident_id == incident_id for row in links):
                    full = await conn.execute(
                        select(audit).where(
                            audit.c.incident_id == incident_id, audit.c.seq > after, audit.c.seq <= links[-1].seq
                        )
                    )
                    own = {int(row["seq"]): entry_json(row) for row in full.mappings()}
            for row in links:
                if row.incident_id == incident_id:
                    yield own[int(row.seq)]
                else:
                    yield {"seq": row.seq, "prev_hash": row.prev_hash, "hash": row.hash}
            if len(links) < batch:
                return
            after = int(links[-1].seq)

    async def verify(self, checker: ChainChecker | None = None) -> tuple[int, ChainBreak | None]:
        """Check the stored chain end to end, or onwards from where ``checker`` got to:
        (entries checked, first break or None)."""
        checker = checker or ChainChecker()
        async for entry in self.stream_entries(after=checker.seq):
            if checker.feed(entry):
                break
        return checker.seq, checker.broken

    async def head(self) -> dict[str, Any] | None:
        """The chain's last entry's sequence number, hash and time."""
        async with self.connect() as conn:
            row = (
                await conn.execute(
                    select(audit.c.seq, audit.c.hash, audit.c.at).order_by(audit.c.seq.desc()).limit(1)
                )
            ).first()
        return {"seq": int(row[0]), "hash": row[1], "at": iso(row[2])} if row else None


# Built once: constructing a statement costs more than sending it.
_HEAD = select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)
# The head as two scalar subqueries, for a statement that reads it along with something else.
HEAD_SEQ = _HEAD.with_only_columns(audit.c.seq).scalar_subquery()
HEAD_HASH = _HEAD.with_only_columns(audit.c.hash).scalar_subquery()
READ_HEAD = object()
_APPEND = audit.insert()


def audit_many_sync(
    conn: Connection,
    entries: Sequence[tuple[str, str, str | None, Mapping[str, Any] | None]],
    head: Any = READ_HEAD,
) -> list[str]:
    """:meth:`Database.audit_many` within a transaction of :meth:`Database.write_sync`.

    ``head``: the chain's last ``(seq, hash)`` (None: the chain is empty) when the caller has read
    it in this transaction already, saving a round trip; read here otherwise."""
    rows = chain_rows(conn.execute(_HEAD).first() if head is READ_HEAD else head, entries)
    if rows:
        conn.execute(_APPEND, rows)
    return [row["hash"] for row in rows]


def chain_rows(
    head: Any, entries: Sequence[tuple[str, str, str | None, Mapping[str, Any] | None]]
) -> list[dict[str, Any]]:
    """The audit rows that extend the chain from ``head`` (its last ``(seq, hash)``, or None)."""
    seq, prev = (int(head[0]), head[1]) if head else (0, GENESIS)
    at = utcnow()
    stamp = iso(at) or ""
    rows: list[dict[str, Any]] = []
    for actor, action, incident_id, detail in entries:
        seq += 1
        body = json.loads(canonical(dict(detail or {})))  # what is stored is exactly what is hashed
        nonce = secrets.token_hex(16)
        detail_sha = detail_digest(body, nonce)
        digest = entry_hash_v2(seq, prev, stamp, actor, action, incident_id, detail_sha)
        rows.append({
            "seq": seq, "version": CURRENT, "at": at, "actor": actor, "action": action,
            "incident_id": incident_id, "detail": chain_canonical(body), "nonce": nonce,
            "detail_sha256": detail_sha, "prev_hash": prev, "hash": digest,
        })
        prev = digest
    return rows


def entry_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An audit row as the API and bundles show it."""
    return {
        "id": row["id"], "seq": row["seq"], "version": row["version"], "at": iso(row["at"]),
        "actor": row["actor"], "action": row["action"], "incident_id": row["incident_id"],
        "detail": json.loads(row["detail"]) if row["detail"] is not None else None,
        "nonce": row["nonce"], "detail_sha256": row["detail_sha256"],
        "prev_hash": row["prev_hash"], "hash": row["hash"], "purged_at": iso(row["purged_at"]),
    }


async def _outlast_cancellation(future: asyncio.Future[R]) -> R:
    """Wait for ``future`` to the end even if the waiting task is cancelled meanwhile, and then
    re-raise that cancellation (``future``'s own outcome is then dropped)."""
    cancelled: asyncio.CancelledError | None = None
    while not future.done():
        try:
            await asyncio.wait((future,))
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not future.cancelled():
            future.exception()  # retrieved: its outcome is superseded by the cancellation
        raise cancelled
    return future.result()


class _RollingBackConnection(sqlite3.Connection):
    """A SQLite connection that rolls back whatever transaction it has before it closes.

    SQLite closes a connection that still has a statement pending (a cursor stepped into a result
    and not finished, as when a writer is cancelled while its SELECT runs in aiosqlite's thread)
    only once that statement is finalized, and the transaction, with the file's write lock, lives
    on until then: until the garbage collector reaches the cursor, which can take indefinitely
    long, with every writer failing "database is locked" meanwhile. A ROLLBACK ends the
    transaction, and its locks, whatever statements are pending.
    """

    def close(self) -> None:
        try:
            self.rollback()
        except sqlite3.Error:
            pass  # closed already, or the rollback failed: closing is all that is left
        finally:
            super().close()


def _sqlite_connect_args(given: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**(given or {}), "factory": _RollingBackConnection}


def _sqlite_writer_lock(engine: Engine) -> None:
    """SQLite: write transactions begin ``IMMEDIATE`` (the file's write lock taken at once).

    pysqlite's own transaction handling is switched off so that SQLAlchemy's ``begin`` event
    emits BEGIN itself (SQLAlchemy's "serializable isolation / savepoints" recipe for pysqlite
    and aiosqlite); reads stay deferred and never wait for a writer under WAL.
    """

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - driver callback
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # pragma: no cover - driver callback
        writer = conn.get_execution_options().get("scenelink_writer")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")
