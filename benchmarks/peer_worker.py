"""A load-generator process for bench-planes: synthetic callers and their viewers, driven over pipes.

    python -m benchmarks.peer_worker      # started by benchmarks.bench_planes, never by hand

One Python process holds about one core, and at tens of callers each watched twice the callers and
viewers need more than that, so bench-planes spreads them over a few of these processes. Each
caller lives in the same process as its viewers (their clocks are one, and a viewer's stamps are
resolved against its caller's frame indices). Commands arrive on stdin and replies leave on stdout,
one JSON object a line; the operator's password comes in the ``open`` command, never on the
command line:

- ``open``: base_url, username, password, video, tag (for incident references), keyframes_on_request
  (callers answer keyframe requests), decode_sample (the first viewer of this process
  decodes every frame, a running check of the count-only viewers' numbering);
- ``start``: ``callers`` more callers, each with ``viewers`` viewers; ``watch``: ``viewers`` viewers
  for each caller that has none yet; both wait for every new viewer's first numbered frame;
- ``delivery``: frames sent in [w0, w1) against those the viewers received, with each received
  frame's latency (raw, for the parent to pool), and this process's event-loop lag in the window;
- ``stop``: end every caller and viewer; ``exit``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.media_peers import Caller, GatewayTarget, Viewer

STEP_TIMEOUT = 60.0  # seconds for one caller or viewer to start on a loaded machine
LAG_PERIOD = 0.05  # seconds between event-loop lag samples


class Worker:
    def __init__(self) -> None:
        self.target: GatewayTarget | None = None
        self.video = Path()
        self.decode_sample = False
        self.callers: list[Caller] = []
        self.viewers: list[Viewer] = []
        self.lag: list[tuple[float, float]] = []  # (when, how late a timer fired, seconds)

    async def lag_monitor(self) -> None:
        """How late the event loop runs a timer: near zero unless this process is starved or busy."""
        while True:
            due = time.monotonic() + LAG_PERIOD
            await asyncio.sleep(LAG_PERIOD)
            self.lag.append((time.time(), time.monotonic() - due))
            if len(self.lag) > 20000:
                del self.lag[:10000]

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.video = Path(cmd["video"])
        self.decode_sample = bool(cmd.get("decode_sample"))
        self.target = GatewayTarget(cmd["base_url"], cmd["username"], cmd["password"], 0, count_only=True)
        self.target.run_tag = str(cmd.get("tag") or self.target.run_tag)  # incident references stay unique
        self.target.keyframes_on_request = bool(cmd.get("keyframes_on_request"))
        await self.target.open()
        return {"ok": True}

    async def _viewer(self, caller: Caller) -> Viewer:
        assert self.target is not None
        decode = self.decode_sample and not self.viewers
        try:
            return await asyncio.wait_for(self.target.add_viewer(caller, count_only=not decode), STEP_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"a viewer was not connected within {STEP_TIMEOUT:.0f} s") from None

    async def _caller(self) -> Caller:
        """A new caller; on a loaded machine one start may miss its deadline, so once more."""
        assert self.target is not None
        for attempt in (1, 2):
            try:
                return await asyncio.wait_for(self.target.start_caller(self.video), STEP_TIMEOUT)
            except (TimeoutError, RuntimeError) as exc:
                if attempt == 2:
                    why = str(exc) or f"no answer within {STEP_TIMEOUT:.0f} s"
                    raise RuntimeError(f"a caller did not start, twice ({why})") from None
                sys.stderr.write(f"peer_worker: a caller did not start ({exc!r}); once more\n")
        raise AssertionError("unreachable")

    async def start(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.target is not None
        new: list[Viewer] = []
        deadline = float(cmd.get("deadline") or 0)
        for started in range(int(cmd["callers"])):
            # Past the parent's deadline (another process failed, or the machine is too slow to
            # start them all), stop here rather than hold the parent for minutes.
            if deadline and time.time() > deadline:
                raise RuntimeError(f"only {started} of {cmd['callers']} callers started in the time given")
            caller = await self._caller()
            self.callers.append(caller)
            new += await self._watch(caller, int(cmd["viewers"]))
        await self._first_frames(new)
        return {"ok": True, "callers": len(self.callers), "viewers": len(self.viewers)}

    async def _first_frames(self, viewers: list[Viewer]) -> None:
        late = sum(isinstance(r, Exception) for r in await asyncio.gather(
            *(v.first_frame(STEP_TIMEOUT) for v in viewers), return_exceptions=True))
        if late:
            raise RuntimeError(f"{late} of {len(viewers)} new viewers numbered no frame within {STEP_TIMEOUT:.0f} s")

    async def watch(self, cmd: dict[str, Any]) -> dict[str, Any]:
        watched = {id(v.caller) for v in self.viewers}
        new: list[Viewer] = []
        for caller in [c for c in self.callers if id(c) not in watched]:
            new += await self._watch(caller, int(cmd["viewers"]))
        await self._first_frames(new)
        return {"ok": True, "callers": len(self.callers), "viewers": len(self.viewers)}

    async def _watch(self, caller: Caller, viewers: int) -> list[Viewer]:
        """``viewers`` new viewers of ``caller``, started one after another."""
        new = [await self._viewer(caller) for _ in range(viewers)]
        self.viewers += new
        return new

    def delivery(self, cmd: dict[str, Any]) -> dict[str, Any]:
        w0, w1 = float(cmd["w0"]), float(cmd["w1"])
        sent = received = decoding_sent = decoding_received = 0
        wire: list[float] = []
        worst = 0.0
        for viewer in self.viewers:
            sent_at = viewer.caller.source.sent
            numbers = [n for n, t in sent_at.items() if w0 <= t < w1]
            got = [n for n in numbers if n in viewer.got]
            sent += len(numbers)
            received += len(got)
            if not viewer.count_only:  # numbered by decoding every frame: a check on the counting
                decoding_sent += len(numbers)
                decoding_received += len(got)
            if numbers:
                worst = max(worst, 100 * (1 - len(got) / len(numbers)))
            for n in got:
                t_wire = viewer.got[n][1]
                if t_wire is not None:
                    wire.append(round(1000 * (t_wire - sent_at[n]), 2))
        fps = [len([t for t in c.source.sent.values() if w0 <= t < w1]) / (w1 - w0) for c in self.callers]
        lags = sorted(lag for at, lag in self.lag if w0 <= at < w1)
        return {
            "sent": sent, "received": received, "wire_ms": wire,
            "decoding_sent": decoding_sent, "decoding_received": decoding_received, "worst_pair_drop_pct": worst,
            "caller_fps": fps,
            "keyframes_on_request": sum(c.source.keyframes_sent_on_request for c in self.callers),
            "unreadable": sum(v.unreadable for v in self.viewers),
            "verified": sum(v.verified for v in self.viewers),
            "misnumbered": sum(v.misnumbered for v in self.viewers),
            "sizes": sorted({f"{w}x{h}" for v in self.viewers for (w, h) in v.sizes}),
            "lag_p95_ms": 1000 * lags[int(0.95 * (len(lags) - 1))] if lags else None,
            "lag_max_ms": 1000 * lags[-1] if lags else None,
        }

    async def stop(self) -> dict[str, Any]:
        assert self.target is not None
        for viewer in self.viewers:
            try:
                await asyncio.wait_for(viewer.close(), 10)
            except Exception:  # keep closing the others
                pass
        for caller in self.callers:
            try:
                await asyncio.wait_for(self.target.stop_caller(caller), 10)
            except Exception:
                pass
        self.callers, self.viewers = [], []
        return {"ok": True}


def reply(body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()


async def serve() -> None:
    worker = Worker()
    monitor = asyncio.ensure_future(worker.lag_monitor())
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            op = cmd.get("op")
            try:
                if op == "open":
                    reply(await worker.open(cmd))
                elif op == "start":
                    reply(await worker.start(cmd))
                elif op == "watch":
                    reply(await worker.watch(cmd))
                elif op == "delivery":
                    reply(worker.delivery(cmd))
                elif op == "stop":
                    reply(await worker.stop())
                elif op == "exit":
                    break
                else:
                    reply({"error": f"unknown command {op!r}"})
            except Exception as exc:
                reply({"error": str(exc) or repr(exc)})
    finally:
        monitor.cancel()
        if worker.target is not None:
            await worker.stop()
            await worker.target.close()


def main() -> None:
    try:
        import uvloop  # the gateway's own event loop, cheaper per datagram than asyncio's
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())


if __name__ == "__main__":
    main()
