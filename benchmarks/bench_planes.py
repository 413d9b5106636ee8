"""Benchmark: the two media planes side by side, with the same synthetic callers and viewers.

    make bench-planes           # tests/netns-run .venv/bin/python -m benchmarks.bench_planes
    tests/netns-run .venv/bin/python -m benchmarks.bench_planes [--callers N] [--viewers V] [--no-write]

Runs a real gateway with the embedded plane, then one with Debian's Janus as its plane (started
with the deployment guide's files, as the tests do), one after the other, and drives each with the
synthetic callers and viewers of :mod:`benchmarks.media_peers` (pre-encoded, frame-stamped VP8
640x480 at 15 fps; viewers decode every frame and read its stamped number). For each plane:

- gateway CPU with N callers and no viewer, then with V viewers per caller: CPU per caller and per
  viewer (``/proc/<pid>/stat``, all threads); with Janus, Janus's own CPU beside it;
- frames the viewers missed of those the callers sent, and the latency from the caller sending a
  frame to its last packet reaching the viewer's socket (through the gateway, or through Janus), matched by
  the decoded frame's stamped number;
- the ceiling: callers (each with V viewers) added a few at a time until more than 5% of frames
  are dropped (``--ceiling``, the most to try; 0 skips it).

The load generator shares the machine's cores with both servers, so N x V is limited by what it
can decode; the figures are per caller and per viewer. Writes the "Media planes" section of
``docs/performance.md`` (between ``<!-- planes:begin -->`` and ``<!-- planes:end -->``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402

from benchmarks.bench_media import (  # noqa: E402
    HOST,
    QUIET_PCT,
    QUIET_WAIT,
    delivery,
    fmt_ms,
    log,
    make_gateway,
    measure,
    stop_all,
    wait_for_quiet,
)
from benchmarks.media_peers import Caller, GatewayTarget, Viewer, _expect, _vp8_first  # noqa: E402
from benchmarks.media_sample import ensure_video  # noqa: E402
from benchmarks.procstat import CpuMeter, process_cpu_seconds  # noqa: E402
from benchmarks.report import machine, write_section  # noqa: E402
from tests.conftest import on_private_test_network  # noqa: E402
from tests.services.janus import janus_server  # noqa: E402

BEGIN, END = "<!-- planes:begin -->", "<!-- planes:end -->"
BUILD = ROOT / "samples" / "build"
INTRO = """\
The embedded relay encodes once per viewer in the gateway; with Janus the gateway receives each
caller once (its own subscription, for snapshots, recording and health) and Janus forwards to
viewers without decoding. `make bench-planes` runs both planes one after the other with the same
synthetic callers and viewers (`--callers`, `--viewers`). The viewers decode every frame to read
its stamped number: bench-media's viewers count frames by their RTP timestamps once calibrated, but
Janus forwards the synthetic callers' own timestamps, which jump where their looping file starts
again, so that shortcut would misnumber frames here. Decoding costs the load generator, on the same
cores, most of what limits the sizes a 2-core machine can run: a ceiling reached while the load
generator (one Python thread) is near a full core is its own, not the plane's; each step's shares
are in the table below and the run's log."""


class AnsweringViewer(Viewer):
    """A viewer that also answers the plane's own offer (Janus offers to its subscribers)."""

    async def take_offer(self, offer: dict[str, str]) -> dict[str, str]:
        # aiortc cannot roll its own offer back: a fresh connection answers the plane's offer.
        await self.pc.close()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        transceiver.setCodecPreferences(_vp8_first())
        self._hook(transceiver.receiver)
        self.pc.on("track", self._on_track)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return {"sdp": self.pc.localDescription.sdp, "type": "answer"}


class PlaneTarget(GatewayTarget):
    async def add_viewer(self, caller: Caller) -> Viewer:
        viewer = AnsweringViewer(caller)
        url = f"/api/incidents/{caller.ref['incident']}/viewer"
        try:
            reply = await _expect(await self._post(url, await viewer.offer()))
            if reply["type"] == "offer":
                answer = await viewer.take_offer(reply)
                await _expect(await self._post(f"{url}/{reply['viewer']}/answer", answer))
            else:
                await viewer.answer(reply)
        except BaseException:
            await viewer.close()
            raise
        return viewer


async def measure_plane(target: PlaneTarget, video: Path, n: int, v: int, janus_pid: int | None,
                        warmup: float, window: float) -> dict[str, Any]:
    meter = CpuMeter(target.pid)
    await wait_for_quiet(meter, QUIET_PCT, QUIET_WAIT)
    idle = await measure(meter, 4.0)
    callers: list[Caller] = []
    viewers: list[Viewer] = []
    try:
        for _ in range(n):
            callers.append(await asyncio.wait_for(target.start_caller(video), 30))
        await asyncio.sleep(warmup)
        with_callers = await measure(meter, window)
        for caller in callers:
            for _ in range(v):
                viewers.append(await asyncio.wait_for(target.add_viewer(caller), 30))
        for viewer in viewers:
            await viewer.first_frame(30)
        await asyncio.sleep(warmup)
        await wait_for_quiet(meter, QUIET_PCT, QUIET_WAIT)
        j0 = process_cpu_seconds(janus_pid) if janus_pid else 0.0
        w0 = time.time()
        with_viewers = await measure(meter, window)
        w1 = time.time()
        janus_pct = 100 * (process_cpu_seconds(janus_pid) - j0) / (w1 - w0) if janus_pid else None
        await asyncio.sleep(1.5)
        seen = delivery(callers, viewers, w0, w1)
    finally:
        await stop_all(target, callers, viewers)
    return {
        "callers": n, "viewers_per_caller": v,
        "idle_pct": idle.target_pct, "with_callers_pct": with_callers.target_pct,
        "with_viewers_pct": with_viewers.target_pct, "janus_pct": janus_pct,
        "per_caller_pct": (with_callers.target_pct - idle.target_pct) / n,
        "per_caller_all_viewers_pct": (with_viewers.target_pct - idle.target_pct) / n,
        "per_viewer_pct": (with_viewers.target_pct - with_callers.target_pct) / (n * v),
        "others_pct": with_viewers.others_pct, "loadgen_pct": with_viewers.loadgen_pct,
        "drop_pct": seen["drop_pct"], "latency_ms": seen["wire_ms"], "sent": seen["sent"],
    }


CEILING_DROP_PCT = 5.0


async def ceiling(target: PlaneTarget, video: Path, v: int, step: int, most: int, window: float) -> dict[str, Any]:
    """Callers (each with ``v`` viewers) added ``step`` at a time until more than 5% of frames are
    dropped: the last count that held, and every step's figures."""
    steps = []
    held = 0
    for n in range(step, most + 1, step):
        callers: list[Caller] = []
        viewers: list[Viewer] = []
        try:
            for _ in range(n):
                caller = await asyncio.wait_for(target.start_caller(video), 30)
                callers.append(caller)
                for _ in range(v):
                    viewers.append(await asyncio.wait_for(target.add_viewer(caller), 30))
            for viewer in viewers:
                await viewer.first_frame(30)
            await asyncio.sleep(3.0)
            meter = CpuMeter(target.pid)
            w0 = time.time()
            cpu = await measure(meter, window)
            w1 = time.time()
            await asyncio.sleep(1.5)
            seen = delivery(callers, viewers, w0, w1)
        finally:
            await stop_all(target, callers, viewers)
        steps.append({"callers": n, "drop_pct": seen["drop_pct"], "latency_ms": seen["wire_ms"],
                      "gateway_pct": cpu.target_pct, "loadgen_pct": cpu.loadgen_pct, "others_pct": cpu.others_pct})
        log(f"  {target.name} ceiling: {n} callers x {v}: dropped {seen['drop_pct']:.1f}%, "
            f"p50/p95 {fmt_ms(seen['wire_ms'])}, gateway {cpu.target_pct:.0f}%, "
            f"load generator {cpu.loadgen_pct:.0f}%, others {cpu.others_pct:.0f}%")
        if seen["drop_pct"] > CEILING_DROP_PCT:
            break
        held = n
    return {"held": held, "steps": steps, "reached_most": held == most - most % step}


async def run(args: argparse.Namespace, video: Path, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for plane in ("embedded", "janus"):
        folder = workdir / plane
        folder.mkdir()
        gateway, password = make_gateway(folder)
        janus_context = janus_server(folder / "janus", HOST) if plane == "janus" else None
        janus = janus_context.__enter__() if janus_context is not None else None
        try:
            if janus is not None:
                gateway.env.update(janus.env())
            log(f"{plane}: starting the gateway")
            gateway.start()
            target = PlaneTarget(gateway.base_url, "bench1", password, gateway.proc.pid)
            await target.open()
            try:
                log(f"{plane}: {args.callers} callers, then {args.viewers} viewers each")
                r = await measure_plane(target, video, args.callers, args.viewers, janus.pid if janus else None,
                                        args.warmup, args.window)
                if args.ceiling:
                    log(f"{plane}: the ceiling, {args.ceiling_step} callers at a time")
                    r["ceiling"] = await ceiling(target, video, args.viewers, args.ceiling_step, args.ceiling,
                                                 args.window)
            finally:
                await target.close()
            results[plane] = r
            janus_text = f", Janus {r['janus_pct']:.1f}%" if r["janus_pct"] is not None else ""
            log(f"  {plane}: gateway {r['per_caller_pct']:.2f}% of a core per caller, "
                f"{r['per_viewer_pct']:.2f}% per viewer ({r['per_caller_all_viewers_pct']:.2f}% per caller with "
                f"its {args.viewers} viewers){janus_text}; dropped {r['drop_pct']:.2f}% of {r['sent']} frames, "
                f"caller -> viewer p50/p95 {fmt_ms(r['latency_ms'])}; other processes {r['others_pct']:.0f}%, "
                f"load generator {r['loadgen_pct']:.0f}%")
        finally:
            gateway.stop()
            if janus_context is not None:
                janus_context.__exit__(None, None, None)
    return results


def write_doc(results: dict[str, Any], args: argparse.Namespace) -> None:
    e, j = results["embedded"], results["janus"]
    rows = [
        "| | embedded relay | Janus VideoRoom |",
        "|---|---|---|",
        f"| gateway CPU per caller, no viewer | {e['per_caller_pct']:.2f}% | {j['per_caller_pct']:.2f}% |",
        f"| gateway CPU per viewer | {e['per_viewer_pct']:.2f}% | {j['per_viewer_pct']:.2f}% |",
        f"| gateway CPU per caller with {args.viewers} viewers | {e['per_caller_all_viewers_pct']:.2f}% "
        f"| {j['per_caller_all_viewers_pct']:.2f}% |",
        f"| Janus CPU ({args.callers} x {args.viewers}) | - | {j['janus_pct']:.1f}% |",
        f"| frames dropped | {e['drop_pct']:.2f}% | {j['drop_pct']:.2f}% |",
        f"| caller -> viewer (frame complete) p50 / p95 | {fmt_ms(e['latency_ms'])} | {fmt_ms(j['latency_ms'])} |",
        *([f"| ceiling: callers x {args.viewers} with at most {CEILING_DROP_PCT:.0f}% dropped "
            f"(tried up to {args.ceiling}) | {_held(e)} | {_held(j)} |"] if args.ceiling else []),
        f"| other processes on the machine (not Janus) | {e['others_pct']:.0f}% "
        f"| {j['others_pct'] - (j['janus_pct'] or 0):.0f}% |",
    ]
    steps: list[str] = []
    if args.ceiling:
        steps = [
            "",
            f"The ceiling's steps (callers x {args.viewers} viewers; frames dropped, caller -> viewer p95, "
            "gateway CPU, load generator CPU):",
            "",
            "| callers | embedded relay | Janus VideoRoom |",
            "|---:|---|---|",
        ]
        by_plane = {name: {s["callers"]: s for s in results[name]["ceiling"]["steps"]} for name in ("embedded", "janus")}
        for n in sorted(set(by_plane["embedded"]) | set(by_plane["janus"])):
            cells = []
            for name in ("embedded", "janus"):
                st = by_plane[name].get(n)
                cells.append("-" if st is None else (
                    f"{st['drop_pct']:.1f}%, p95 {_p95(st['latency_ms'])}, "
                    f"gateway {st['gateway_pct']:.0f}%, load {st['loadgen_pct']:.0f}%"))
            steps.append(f"| {n} | {cells[0]} | {cells[1]} |")
    text = "\n".join([
        "## Media planes",
        "",
        INTRO,
        "",
        f"{args.callers} callers x {args.viewers} viewers each, 640x480 at 15 fps, one run "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}). "
        "Reproduce: `make bench-planes`.",
        "",
        *rows,
        *steps,
    ])
    write_section(BEGIN, END, text)


def _p95(p: dict[str, Any]) -> str:
    return "n/a" if not p["n"] else f"{p['p95']:.0f} ms"


def _held(result: dict[str, Any]) -> str:
    c = result["ceiling"]
    last = c["steps"][-1]
    more = "+" if c["reached_most"] else f" ({last['callers']}: {last['drop_pct']:.0f}% dropped)"
    return f"{c['held']}{more}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--ceiling", type=int, default=20, help="most callers to try for the ceiling (0: none)")
    parser.add_argument("--ceiling-step", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not on_private_test_network():
        sys.exit("run inside the private test network: tests/netns-run .venv/bin/python -m benchmarks.bench_planes")
    video = ensure_video()
    with tempfile.TemporaryDirectory(prefix="bench-planes-") as tmp:
        results = asyncio.run(run(args, video, Path(tmp)))
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / "bench_planes_runs.jsonl", "a") as fh:
        fh.write(json.dumps({"at": time.time(), "args": vars(args), "results": results}) + "\n")
    if not args.no_write:
        write_doc(results, args)


if __name__ == "__main__":
    main()
