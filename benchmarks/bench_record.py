"""Benchmark: the incident record under callers' load, and verifying a long audit chain.

    python -m benchmarks.bench_record [--seconds 300] [--entries 1000000] [--backend both]
                                      [--no-write]                    (or: make bench-record)

On SQLite (the embedded default: a file, WAL) and on PostgreSQL (the machine's server, through its
Unix socket, in a database made for the run and dropped after), each in turn:

1. **Callers' load**: 20 callers, each sending a fix a second and a snapshot every 5 s, for
   ``--seconds`` (300 for the figures in docs/performance.md), through the record's own API in one
   process and event loop, as the gateway writes them (``Incidents.add_fix``; a snapshot is its
   JPEG put in the blob store, then ``Incidents.add_snapshot``), two ways in the same run: the
   gateway's group commit (fixes that queue while the writer lock is busy share one transaction)
   against one transaction per fix as before (each through ``Database.begin()`` and the async
   driver), alternating in 60-second rounds, each way with its own 20 callers (so ``--seconds``
   of load each). Reported per way:
   latency of recording a fix and a snapshot (p50, p95, p99, max), fixes per transaction, failures;
   and the whole chain verified afterwards.
2. **Chain verification**: a chain of ``--entries`` entries (built fast by bulk inserts of
   correctly hashed version-2 entries), verified two ways in the same run: streaming it in
   batches (``Database.verify``, what the gateway does) against the obvious alternative, loading
   the whole table first and then checking it (``verify_chain(await db.audit_entries())``).
   Reported: entries a second and the process's peak memory growth for each.

Prints the figures and writes the "Record" section of ``docs/performance.md`` (not with
``--no-write``, nor for a run shorter than 300 s or a chain shorter than a million entries).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.config import Settings  # noqa: E402
from gateway.record import BlobStore, Database, Incidents, verify_chain  # noqa: E402
from gateway.record.chain import CURRENT, GENESIS, canonical, detail_digest, entry_hash_v2  # noqa: E402
from gateway.record.database import engine_options, iso, utcnow  # noqa: E402
from gateway.record.schema import audit  # noqa: E402
from tests import databases  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench_record:start -->", "<!-- bench_record:end -->"

CALLERS = 20
FIX_EVERY = 1.0
SNAPSHOT_EVERY = 5.0
TARGET_FIX_P95_MS = 20.0
FULL_SECONDS = 300
FULL_ENTRIES = 1_000_000
JPEG = b"\xff\xd8" + os.urandom(60_000) + b"\xff\xd9"  # a snapshot's size; its bytes do not matter here


def log(*args: Any) -> None:
    print(*args, flush=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class PeakMemory:
    """The highest resident set seen while the block runs (sampled every 20 ms), above where it began."""

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self.base = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.base


# -- the databases ---------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    url: str
    cleanup: Any = None


def backend(name: str, workdir: Path, label: str) -> Backend:
    if name == "sqlite":
        return Backend("SQLite", f"sqlite+aiosqlite:///{workdir / f'{label}.db'}")
    reason = databases.postgres_unavailable()
    if reason:
        raise SystemExit(f"bench_record: {reason}")
    db_name = databases.create_database()
    return Backend("PostgreSQL", databases.postgres_url(db_name), lambda: databases.drop_database(db_name))


# -- 1. callers' load --------------------------------------------------------------------------------


# The two ways of writing fixes compared in the same run: the gateway's, and the obvious
# alternative it replaced (see open_database).
GROUPED, ALONE = "group commit (the gateway)", "one transaction per fix, as before"
MODES = (GROUPED, ALONE)
# The load alternates between the two ways in rounds of this length, so that a machine whose other
# work comes and goes weighs on both alike.
ROUND_SECONDS = 60.0


@dataclass
class Load:
    fix_ms: list[float] = field(default_factory=list)
    snapshot_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    duplicates: int = 0
    transactions: int = 0  # write transactions that carried fixes
    cpu_s: float = 0.0
    wall_s: float = 0.0


@dataclass
class Call:
    """One caller's incident and session, and how far its fixes have got."""

    incident_id: str
    session_id: str
    seq: int = 0
    last_fix: dict[str, Any] | None = None


async def open_call(incidents: Incidents, n: int) -> Call:
    """An incident with a link opened by its caller."""
    inc = await incidents.create(f"BENCH-{n:02d}-{secrets.token_hex(3)}", "+447400123456", "handler1")
    link = await incidents.create_link(inc["id"], secrets.token_hex(32), utcnow() + timedelta(hours=1), "handler1")
    session = await incidents.start_session(inc["id"], link["id"], "bench")
    return Call(inc["id"], session["id"])


async def caller(incidents: Incidents, blobs: BlobStore, n: int, call: Call, seconds: float,
                 load: Load, t0: float) -> None:
    loop = asyncio.get_running_loop()
    # Callers start spread over the first second, as real ones would not all tick together.
    start = t0 + n / CALLERS
    tick = 0
    every = int(SNAPSHOT_EVERY / FIX_EVERY)
    while True:
        due = start + tick * FIX_EVERY
        if due - t0 >= seconds:
            return
        await asyncio.sleep(max(0.0, due - loop.time()))
        tick += 1
        call.seq += 1
        seq = call.seq
        fix = {"latitude": 53.79 + seq * 1e-5, "longitude": -1.54, "accuracy": 8.0, "heading": 90.0, "speed": 1.2}
        began = time.perf_counter()
        try:
            stored = await incidents.add_fix(
                call.incident_id, call.session_id, seq, fix, utcnow(), {"layers": {"force": "WYP"}}
            )
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            load.failures.append(f"fix: {exc!r}")
            continue
        load.fix_ms.append((time.perf_counter() - began) * 1000)
        if stored is None:
            load.duplicates += 1
        call.last_fix = stored or call.last_fix
        # Each caller's snapshots fall in its own second of the five, as callers who started at
        # different times' would. The JPEG is hashed and written (fsync) before the record is
        # asked to store it, outside the writer lock, as the gateway does.
        if seq % every == n % every:
            began = time.perf_counter()
            try:
                sha = await asyncio.to_thread(blobs.put, JPEG)
                await incidents.add_snapshot(call.incident_id, call.session_id, sha, 1280, 720, len(JPEG), utcnow(),
                                             "gateway", "interval", call.last_fix)
            except Exception as exc:  # noqa: BLE001
                load.failures.append(f"snapshot: {exc!r}")
                continue
            load.snapshot_ms.append((time.perf_counter() - began) * 1000)


async def open_database(url: str, mode: str) -> Database:
    """The record as each way writes it.

    The gateway: fixes group-committed, each batch one call to the writer thread on SQLite.
    As before: each fix its own ``Database.begin()`` transaction, its statements sent one by one
    through the async driver (aiosqlite, asyncpg), the same statements as the gateway's.
    """
    # The pool as the gateway configures it by default (on PostgreSQL: 5 + 10, pre-ping).
    options = engine_options(url, Settings.database_pool_size, Settings.database_max_overflow)
    if mode == GROUPED:
        return await Database.open(url, migrate=False, **options)
    db = await Database.open(url, migrate=False, batch_limit=1, **options)

    async def through_the_async_driver(write: Any) -> Any:
        async with db.begin() as conn:
            return await conn.run_sync(write)

    db.write_sync = through_the_async_driver  # type: ignore[method-assign]
    return db


async def run_load(b: Backend, seconds: float, workdir: Path) -> dict[str, Any]:
    blobs = BlobStore(workdir / f"blobs-{b.name}")
    db = await Database.open(b.url)
    try:
        # Each way gets its own 20 callers, set up first, so the timed part is the steady stream alone.
        calls = {mode: [await open_call(Incidents(db), n) for n in range(CALLERS)] for mode in MODES}
    finally:
        await db.close()
    loads = {mode: Load() for mode in MODES}
    rounds = max(1, round(seconds / ROUND_SECONDS))
    for r in range(rounds):
        for mode in (list(MODES) if r % 2 == 0 else list(reversed(MODES))):
            load = loads[mode]
            db = await open_database(b.url, mode)
            try:
                cpu0, wall0 = time.process_time(), time.perf_counter()
                t0 = asyncio.get_running_loop().time() + 0.5
                await asyncio.gather(*(
                    caller(Incidents(db), blobs, n, calls[mode][n], seconds / rounds, load, t0)
                    for n in range(CALLERS)
                ))
                load.cpu_s += time.process_time() - cpu0
                load.wall_s += time.perf_counter() - wall0
                load.transactions += db.batches("fixes")
            finally:
                await db.close()
            log(f"    round {r + 1}/{rounds}, {mode}: {len(load.fix_ms):,} fixes so far, "
                f"p95 {percentile(load.fix_ms, 95):.1f} ms")
    db = await Database.open(b.url, migrate=False)
    try:
        began = time.perf_counter()
        checked, broken = await db.verify()
        verify_s = time.perf_counter() - began
    finally:
        await db.close()
    return {
        "seconds": seconds, "rounds": rounds,
        "modes": {
            mode: {
                "fixes": len(load.fix_ms), "snapshots": len(load.snapshot_ms), "failures": load.failures,
                "duplicates": load.duplicates, "fix": summary(load.fix_ms), "snapshot": summary(load.snapshot_ms),
                "per_transaction": len(load.fix_ms) / max(1, load.transactions),
                "cpu_pct": 100 * load.cpu_s / max(load.wall_s, 1e-9),
            }
            for mode, load in loads.items()
        },
        "chain_entries": checked, "chain_broken": str(broken) if broken else None, "verify_s": verify_s,
    }


def summary(ms: list[float]) -> dict[str, float]:
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99),
            "max": max(ms) if ms else float("nan"), "mean": statistics.fmean(ms) if ms else float("nan")}


# -- 2. a long chain, verified two ways -----------------------------------------------------------


async def build_chain(db: Database, entries: int, batch: int = 20_000) -> float:
    """Append ``entries`` version-2 entries by bulk inserts; returns the seconds it took."""
    began = time.perf_counter()
    prev, seq = GENESIS, 0
    at = utcnow()
    incidents = [f"inc_{secrets.token_hex(10)}" for _ in range(200)]
    while seq < entries:
        rows = []
        for _ in range(min(batch, entries - seq)):
            seq += 1
            stamp = at + timedelta(milliseconds=seq)
            detail = {"session_id": "ses_bench", "seq": seq, "sha256": f"{seq:064x}"}
            nonce = secrets.token_hex(16)
            digest_ = detail_digest(detail, nonce)
            incident = incidents[seq % len(incidents)]
            hash_ = entry_hash_v2(seq, prev, iso(stamp) or "", "caller", "fix.recorded", incident, digest_)
            rows.append({
                "seq": seq, "version": CURRENT, "at": stamp, "actor": "caller", "action": "fix.recorded",
                "incident_id": incident, "detail": canonical(detail), "nonce": nonce, "detail_sha256": digest_,
                "prev_hash": prev, "hash": hash_,
            })
            prev = hash_
        async with db.begin() as conn:
            await conn.execute(audit.insert(), rows)
        if seq % 200_000 == 0 or seq == entries:
            log(f"    built {seq:,} entries ({time.perf_counter() - began:.0f} s)")
    return time.perf_counter() - began


async def verify_streaming(db: Database) -> tuple[int, float, Any]:
    began = time.perf_counter()
    checked, broken = await db.verify()
    return checked, time.perf_counter() - began, broken


async def verify_loading_all(db: Database) -> tuple[int, float, Any]:
    began = time.perf_counter()
    entries = await db.audit_entries()
    broken = verify_chain(entries)
    count = len(entries)
    del entries
    return count, time.perf_counter() - began, broken


async def run_chain(b: Backend, entries: int) -> dict[str, Any]:
    db = await Database.open(b.url)
    try:
        build_s = await build_chain(db, entries)
        with PeakMemory() as streaming:
            checked, stream_s, broken = await verify_streaming(db)
        with PeakMemory() as loading:
            loaded, load_s, broken_all = await verify_loading_all(db)
    finally:
        await db.close()
    assert checked == loaded == entries, (checked, loaded, entries)
    return {
        "entries": entries, "build_s": build_s,
        "stream": {"s": stream_s, "rate": checked / stream_s, "peak_growth_mb": streaming.growth,
                   "broken": str(broken) if broken else None},
        "load_all": {"s": load_s, "rate": loaded / load_s, "peak_growth_mb": loading.growth,
                     "broken": str(broken_all) if broken_all else None},
    }


# -- report ------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
            f"(1 / 5 / 15 min) when the run ended")


def busy_note() -> str:
    """Said when the machine was busy with other work: figures under contention read differently."""
    if os.getloadavg()[1] < 1.5:
        return ""
    return ("**Other work shared the machine during the run** (see the load average), so these are "
            "figures under contention, not on a quiet server. ")


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace, pg_version: str) -> str:
    lines = [
        START,
        "## Record",
        "",
        f"Reproduce: `python -m benchmarks.bench_record --seconds {args.seconds:g} --entries {args.entries}` "
        f"(`make bench-record` runs {FULL_SECONDS:g} s and {FULL_ENTRIES:,} entries); one run, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {machine()}. "
        f"{busy_note()}SQLite: a file in WAL mode "
        f"(`synchronous=NORMAL`). PostgreSQL: {pg_version}, local, reached through its Unix socket, "
        "default server settings (`synchronous_commit` on: a commit waits for its WAL on disk). Both "
        "through `postgresql+asyncpg` / `sqlite+aiosqlite`, the pool as the gateway sets it by default "
        "(PostgreSQL: 5 + 10 connections, pre-ping).",
        "",
        f"### Callers' load: {CALLERS} callers, a fix a second and a snapshot every {SNAPSHOT_EVERY:g} s each, "
        f"for {args.seconds:g} s each way",
        "",
        "Recorded through the record's API in one process, as the gateway does (`Incidents.add_fix`; a "
        "snapshot's 60 kB JPEG hashed and written to the blob store, then `Incidents.add_snapshot`), "
        "two ways in the same run: **group commit** (the gateway: the fixes queued while the writer lock "
        "is busy are written together in one transaction, each with its own audit entry, each caller "
        "answered after the commit; on SQLite the transaction runs whole in one call to a writer "
        "thread) against the obvious alternative it replaced, **one transaction per fix, as before** "
        "(each fix its own `Database.begin()` transaction, the same statements sent one by one "
        "through the async driver). Each way has its own 20 callers; the two alternate in "
        f"{ROUND_SECONDS:g}-second rounds so that the machine's other work weighs on both alike. A "
        "snapshot is one transaction either way, its JPEG hashed and written before the writer lock.",
        "",
        "| | way | fixes | fix p50 | fix p95 | fix p99 | fix max | fixes per transaction | snapshots | "
        "snapshot p95 | failures | process CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        load = r.get("load")
        if not load:
            continue
        for mode, m in load["modes"].items():
            lines.append(
                f"| {name} | {mode} | {m['fixes']:,} | {m['fix']['p50']:.1f} ms | **{m['fix']['p95']:.1f} ms** | "
                f"{m['fix']['p99']:.1f} ms | {m['fix']['max']:.0f} ms | {m['per_transaction']:.2f} | "
                f"{m['snapshots']:,} | {m['snapshot']['p95']:.1f} ms | {len(m['failures'])} | {m['cpu_pct']:.0f}% |"
            )
    lines.append("")
    for name, r in results.items():
        load = r.get("load")
        if not load:
            continue
        grouped, alone = load["modes"][GROUPED], load["modes"][ALONE]
        chain = (f"{load['chain_entries']:,} entries verified end to end in {load['verify_s']:.2f} s"
                 if not load["chain_broken"] else f"BROKEN: {load['chain_broken']}")
        lines.append(
            f"- {name}: fix p95 {grouped['fix']['p95']:.1f} ms with group commit against "
            f"{alone['fix']['p95']:.1f} ms one transaction per fix (ratio {alone['fix']['p95'] / grouped['fix']['p95']:.1f}x; "
            f"p99 {grouped['fix']['p99']:.1f} against {alone['fix']['p99']:.1f} ms). Target (group commit): fix p95 <= "
            f"{TARGET_FIX_P95_MS:g} ms, no failures, the chain verified: "
            + ("**met**" if target_met(r) else "**NOT met**") + f". Chain afterwards (both ways): {chain}."
        )
    lines += [
        "",
        "What the figures say. A write transaction costs the same round trips whether it carries one "
        "fix or twenty, and on a loaded machine each round trip is a wake-up that waits its turn for a "
        "core. Group commit pays them once for all the fixes that queued meanwhile, so when the "
        "database stalls (a WAL flush, a checkpoint, a neighbour's burst) the queue behind the writer "
        "lock is written in one transaction instead of one by one: 'fixes per transaction' above 1 is "
        "that happening. When the fixes rarely overlap (the column near 1), a fix's latency is one "
        "transaction's: on SQLite it runs whole in one call to the writer thread, against three or four "
        "hand-overs to aiosqlite's thread per statement before; on PostgreSQL it is seven round trips "
        "to the server's backend process (the pool's pre-ping, BEGIN, the advisory lock, the "
        "duplicate check with the chain's head, the two inserts, and the commit, which waits for the "
        "WAL to reach the disk), the same either way, so there the two ways differ only when fixes "
        "queue.",
        "",
        f"### Verifying a {args.entries:,}-entry chain: streaming against loading the whole table (same run)",
        "",
        "The chain is built by bulk inserts of correctly hashed version-2 entries. *Streaming* is "
        "`Database.verify` (batches of 5,000 by `seq`, what the gateway runs); the obvious "
        "alternative *loads the whole table* (`Database.audit_entries`) and then checks it. Peak "
        "memory is the process's highest resident set during each, above where it began.",
        "",
        "| | build (bulk insert) | streaming | load whole table | streaming / load-all speed | peak memory streaming | peak memory load-all |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        c = r.get("chain")
        if not c:
            continue
        lines.append(
            f"| {name} | {c['build_s']:.0f} s | **{c['stream']['rate']:,.0f} entries/s** ({c['stream']['s']:.1f} s) | "
            f"{c['load_all']['rate']:,.0f} entries/s ({c['load_all']['s']:.1f} s) | "
            f"{c['stream']['rate'] / c['load_all']['rate']:.2f}x | +{c['stream']['peak_growth_mb']:.0f} MB | "
            f"+{c['load_all']['peak_growth_mb']:.0f} MB |"
        )
    chains = {name: r["chain"] for name, r in results.items() if r.get("chain")}
    if chains:
        lines += [
            "",
            "Streaming holds one batch of 5,000 entries at a time instead of the whole chain; "
            + "; ".join(
                f"{name}: {c['stream']['rate'] / c['load_all']['rate']:.2f}x the speed of loading it all, "
                f"a {c['entries']:,}-entry chain checked in {c['stream']['s'] / 60:.1f} min"
                for name, c in chains.items()
            )
            + ". The rate is the per-entry work of checking (two canonical JSON serialisations and two "
            "SHA-256 per entry, in Python, on one core). An export checks only the entries after the "
            "newest checkpoint its key vouches for (signed every 5 minutes and at every export); "
            "`scenelink verify` checks them all at this rate.",
        ]
    lines += [END]
    return "\n".join(lines)


def target_met(r: dict[str, Any]) -> bool:
    """The callers' load target, met by the gateway's way of writing (group commit)?"""
    grouped = r["load"]["modes"][GROUPED]
    return (grouped["fix"]["p95"] <= TARGET_FIX_P95_MS and not grouped["failures"]
            and not r["load"]["chain_broken"])


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


async def postgres_version() -> str:
    import asyncpg

    conn = await asyncpg.connect(host=databases.POSTGRES_SOCKET, user=databases.POSTGRES_USER, database="postgres")
    try:
        return "PostgreSQL " + str(await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=FULL_SECONDS, help="length of the callers' load")
    parser.add_argument("--entries", type=int, default=FULL_ENTRIES, help="length of the chain to verify")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = parser.parse_args(argv)
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, dict[str, Any]] = {}
    pg_version = "not run"
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        workdir = Path(tmp)
        for name in names:
            if name == "postgresql":
                pg_version = asyncio.run(postgres_version())
            for part in ("load", "chain"):
                b = backend(name, workdir, part)
                try:
                    log(f"{b.name}: {part}")
                    if part == "load":
                        r = asyncio.run(run_load(b, args.seconds, workdir))
                        for mode, m in r["modes"].items():
                            log(f"  {mode}: {m['fixes']:,} fixes: p50 {m['fix']['p50']:.1f} ms, p95 "
                                f"{m['fix']['p95']:.1f} ms, p99 {m['fix']['p99']:.1f} ms, max {m['fix']['max']:.0f} ms, "
                                f"{m['per_transaction']:.2f} per transaction; {m['snapshots']:,} snapshots: p95 "
                                f"{m['snapshot']['p95']:.1f} ms; failures {len(m['failures'])} {m['failures'][:3]}; "
                                f"CPU {m['cpu_pct']:.0f}%")
                        log(f"  chain {r['chain_entries']:,} entries, broken: {r['chain_broken']}")
                    else:
                        r = asyncio.run(run_chain(b, args.entries))
                        log(f"  built in {r['build_s']:.0f} s; streaming {r['stream']['rate']:,.0f} entries/s "
                            f"(+{r['stream']['peak_growth_mb']:.0f} MB), load-all {r['load_all']['rate']:,.0f} entries/s "
                            f"(+{r['load_all']['peak_growth_mb']:.0f} MB)")
                    results.setdefault(b.name, {})[part] = r
                finally:
                    if b.cleanup:
                        b.cleanup()
    section = render(results, args, pg_version)
    print(section)
    full = args.seconds >= FULL_SECONDS and args.entries >= FULL_ENTRIES and args.backend == "both"
    if not args.no_write and full:
        write_doc(section)
        log(f"wrote {DOC.relative_to(ROOT)}")
    elif not args.no_write:
        log("(a shorter run: docs/performance.md left as it is)")
    ok = all(
        target_met(r) and not r["chain"]["stream"]["broken"]
        for r in results.values() if "load" in r and "chain" in r
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
