"""The stream on a bad signal: a real Chromium caller behind the userspace impairment bridge.

Runs the gateway as `make run` does (a separate process, HTTPS, the sample configuration) and a
Chromium caller in its own network namespace (../shared/tools/impair), and measures, at the
gateway, what a handler would see:

- **lossy link** (5 % loss each way, +100 ms, 500 kbit/s, 2 minutes): the longest freeze (the
  longest time between two frames the gateway decoded, its own exact figure; also the newest
  frame's age polled every 0.2 s, which can miss up to one interval), the median frame rate
  (frames a second, per second), snapshots asked for every 5 s that were answered with a frame
  older than 2 s (stale answered as fresh) or refused as stale, keyframe requests, and every fix
  the page numbered against the record (lost or stored twice);
- **total loss then clean**: 15 s of no network, then none of it: seconds from the clean network to
  video at the gateway, and to 640x480 again (the stream health's size, reported every 2 s);
- **gateway killed** (SIGKILL) and started again: seconds from its first answer to video;
- **camera ended**: seconds from the track's end to the handler's view of the caller saying so.

The first two run twice in the same run: with the gateway's keyframe recovery (``media.keyframe_
recovery = true``, the default) and without it (aiortc's own 512-packet wait, as before). The page
is the current one in both. Run as root inside the test namespace:

    make bench-signal          # tests/netns-run .venv/bin/python -m benchmarks.bench_signal
    ... -m benchmarks.bench_signal --seconds 30 --no-write       # a short smoke run

Writes the "Stream on a bad signal" section of docs/performance.md unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import machine, write_section  # noqa: E402
from tests.e2e.callers import Operator, Phones  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    HOST,
    PYTHON,
    VIDEO_PATH,
    Gateway,
    _add_user,
    _free_port,
    _wait_ready,
    chromium_args,
    load_make_video,
)
from tests.e2e.impaired import BAD_SIGNAL, NO_SIGNAL, caller_net, impaired_browser, missing  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- signal:begin -->", "<!-- signal:end -->"
STALE_AFTER = 2.0


def log(text: str) -> None:
    print(text, flush=True)


# -- a gateway process --------------------------------------------------------------------------


def config_file(folder: Path, recovery: bool) -> Path:
    """The sample configuration with keyframe recovery on or off, its relative paths made absolute."""
    text = (ROOT / "samples" / "scenelink.toml").read_text()
    text = re.sub(r'(?m)^(\s*(?:path|postcodes)\s*=\s*")(?!/)', rf'\g<1>{ROOT / "samples"}/', text)
    text = re.sub(r"(?m)^keyframe_recovery = \w+", f"keyframe_recovery = {'true' if recovery else 'false'}", text)
    assert f"keyframe_recovery = {'true' if recovery else 'false'}" in text
    path = folder / f"scenelink-{'on' if recovery else 'off'}.toml"
    path.write_text(text)
    return path


@dataclass
class GatewayProcess:
    folder: Path
    recovery: bool
    gw: Gateway = field(init=False)
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        port = _free_port(HOST)
        base_url = f"https://{HOST}:{port}"
        password = secrets.token_urlsafe(18)
        self.config = config_file(self.folder, self.recovery)
        env = dict(os.environ)
        env.update({
            "SCENELINK_DATA_DIR": str(self.folder / f"data-{port}"), "SCENELINK_HOST": HOST,
            "SCENELINK_PORT": str(port), "SCENELINK_PUBLIC_URL": base_url,
            "SCENELINK_ADMIN_PASSWORD": secrets.token_urlsafe(18), "PYTHONUNBUFFERED": "1",
        })
        os.environ["SCENELINK_E2E_CONFIG"] = str(self.config)
        _add_user(env, "handler1", "handler", password)
        self.gw = Gateway(base_url, self.folder, self.folder / f"gateway-{port}.log", {"handler1": password}, env=env)

    def start(self) -> float:
        """Start it; returns the monotonic time of its first answer."""
        self.gw.proc = subprocess.Popen(
            [PYTHON, "-m", "gateway", "--config", str(self.config), "serve"], env=self.gw.env, cwd=ROOT,
            stdout=open(self.gw.log_path, "ab"), stderr=subprocess.STDOUT,
        )
        _wait_ready(self.gw)
        return time.monotonic()

    def kill(self) -> None:
        if self.gw.proc and self.gw.proc.poll() is None:
            self.gw.proc.send_signal(signal.SIGKILL)
            self.gw.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.gw.proc and self.gw.proc.poll() is None:
            self.gw.proc.send_signal(signal.SIGINT)
            try:
                self.gw.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def handler(self) -> Operator:
        return Operator(self.gw.base_url, "handler1", self.gw.passwords["handler1"])

    def token(self) -> str:
        """A bearer token for polling without signing in (a restarted gateway answers at once)."""
        done = subprocess.run(
            [PYTHON, "-m", "gateway", "--config", str(self.config), "tokens", "create", f"bench-{secrets.token_hex(3)}",
             "--role", "handler"], env=self.gw.env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[0]


class Watcher:
    """Reads the stream's state with a bearer token: no sign-in between a restart and a reading."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))

    async def stream(self, incident_id: str) -> dict[str, Any]:
        try:
            async with self.session.get(f"{self.base_url}/api/incidents/{incident_id}/stream",
                                        headers=self.headers, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                return await resp.json() if resp.status == 200 else {}
        except (TimeoutError, aiohttp.ClientError):
            return {}

    async def close(self) -> None:
        await self.session.close()


# -- watching the stream from the handler's side -------------------------------------------------


async def stream(handler: Operator, incident_id: str) -> dict[str, Any]:
    return await handler.get(f"/api/incidents/{incident_id}/stream")


async def until(check, timeout: float, step: float = 0.1) -> float | None:
    """Seconds until ``await check()`` is true, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(step)
    return None


async def frames(handler: Operator, incident_id: str) -> int:
    return (await stream(handler, incident_id)).get("frames") or 0


async def start_call(handler: Operator, phones: Phones):
    incident, link = await handler.incident()
    page = await phones.open(link["url"])
    await page.tap("#start")
    waited = await until(lambda: _has_frames(handler, incident["id"]), 40)
    if waited is None:
        raise RuntimeError("the caller's video never reached the gateway")
    return incident, page


async def _has_frames(handler: Operator, incident_id: str, more_than: int = 0) -> bool:
    return await frames(handler, incident_id) > more_than


async def page_seq(page) -> int:
    return await page.evaluate(
        """() => { for (let i = 0; i < localStorage.length; i++) {
             const k = localStorage.key(i);
             if (/^scenelink\\.[^.]+\\.seq$/.test(k)) return JSON.parse(localStorage.getItem(k)); }
           return 0; }"""
    )


# -- the scenarios ------------------------------------------------------------------------------


async def lossy_link(gp: GatewayProcess, video: Path, seconds: float) -> dict[str, Any]:
    async with gp.handler() as handler:
        with caller_net() as net:
            async with impaired_browser(net, chromium_args(video)) as browser:
                phones = Phones(browser)
                incident, page = await start_call(handler, phones)
                context = page.context
                net.netem(BAD_SIGNAL)
                samples: list[tuple[float, int]] = []
                ages: list[float] = []
                rates: list[float] = []  # the caller's frame rate as stream health gives it
                snaps = {"fresh": 0, "stale_as_fresh": 0, "refused_stale": 0, "other": 0}
                started = last_snap = last_move = time.monotonic()
                lat, lon = 53.7997, -1.5492
                # Per session of the page's (it may connect afresh when the link looks dead):
                # the gateway's exact longest freeze and its counters, which start again with each.
                sessions: dict[str, dict[str, Any]] = {}
                still = StoodStill()
                while time.monotonic() - started < seconds:
                    now = time.monotonic()
                    live = await stream(handler, incident["id"])
                    session = sessions.setdefault(live.get("session_id") or "", {})
                    if live.get("stream"):
                        session["health"] = live["stream"]
                    if live.get("longest_freeze_seconds") is not None:
                        session["exact"] = live["longest_freeze_seconds"]
                    samples.append((now, live.get("frames") or (samples[-1][1] if samples else 0)))
                    # The frame rate is the caller's as the gateway receives it (what a forwarded view
                    # shows), from stream health: with temporal layers only the base layer is decoded.
                    if (live.get("stream") or {}).get("fps") is not None:
                        rates.append(live["stream"]["fps"])
                    still.poll(now, live.get("session_id"), live.get("frames") or 0)
                    if live.get("frame_age_seconds") is not None:
                        ages.append(live["frame_age_seconds"])
                    if now - last_snap >= 5:
                        last_snap = now
                        resp = await handler.post(f"/api/incidents/{incident['id']}/snapshots", {})
                        if resp.get("error") == "stale_video":
                            snaps["refused_stale"] += 1
                        elif "frame_age_seconds" in resp:
                            snaps["stale_as_fresh" if resp["frame_age_seconds"] > STALE_AFTER else "fresh"] += 1
                        else:
                            snaps["other"] += 1
                    if now - last_move >= 2:
                        last_move = now
                        lat += 0.0001
                        await context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 10})
                    await asyncio.sleep(0.2)
                net.clear()
                # Let the phone deliver what it kept, then compare its numbering with the record.
                sent = await page_seq(page)
                await until(lambda: _fixes_in(handler, incident["id"], sent), 30, 0.5)
                record = await handler.record(incident["id"])
                seqs = [f["seq"] for f in record["fixes"]]
                await phones.close()
    # The longest freeze: the gateway's own figure (the longest time between two decoded frames of
    # a session, exact); the oldest the newest frame was seen to be when polled every 0.2 s or so
    # (short of the truth by up to one polling interval); and, where the page connected afresh,
    # the time the frame count stood still across it (long by up to one polling interval).
    polled = max(ages) if ages else float("nan")
    exact = max((x["exact"] for x in sessions.values() if "exact" in x), default=None)
    longest = max(x for x in (exact, polled, still.longest_across_sessions) if x is not None)
    healths = [x["health"] for x in sessions.values() if "health" in x]
    freezes = freeze_lengths(ages)
    per_second: list[float] = []
    for i in range(int(seconds)):
        window = [(t, n) for t, n in samples if samples[0][0] + i <= t < samples[0][0] + i + 1]
        if len(window) >= 2:
            per_second.append((window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]))
    return {
        "longest_freeze_s": round(longest, 1),
        "longest_freeze_exact_s": exact,
        "longest_freeze_polled_s": round(polled, 1),
        "longest_freeze_across_reconnections_s": round(still.longest_across_sessions, 1),
        "sessions": len([k for k in sessions if k]),
        "polls": len(samples),
        "median_fps": round(statistics.median(rates), 1) if rates else None,
        "median_decoded_fps": round(statistics.median(per_second), 1) if per_second else None,
        "snapshots": snaps,
        "freezes_over_1s": sum(f > 1.0 for f in freezes),
        "keyframes": summed([h.get("keyframes") for h in healths]),
        "decoder_queue": summed([h.get("decoder_queue") for h in healths]),
        "fixes_sent": sent,
        "fixes_lost": len(set(range(1, sent + 1)) - set(seqs)),
        "fixes_duplicated": len(seqs) - len(set(seqs)),
    }


@dataclass
class StoodStill:
    """How long the frame count stood still, polled: a freeze across the page's reconnections,
    which the gateway's per-session figures cannot see."""

    longest_across_sessions: float = 0.0
    _last: tuple[Any, int] | None = None
    _changed_at: float | None = None
    _changed_session: Any = None

    def poll(self, now: float, session: Any, frames: int) -> None:
        if frames and (session, frames) != self._last:
            if self._changed_at is not None and session != self._changed_session:
                self.longest_across_sessions = max(self.longest_across_sessions, now - self._changed_at)
            self._changed_at, self._changed_session = now, session
        if frames:
            self._last = (session, frames)


def summed(counters: list[dict[str, int] | None]) -> dict[str, int] | None:
    """Counters of several sessions added up (``deepest``: the deepest of them)."""
    present = [c for c in counters if c]
    if not present:
        return None
    out: dict[str, int] = {}
    for c in present:
        for k, n in c.items():
            out[k] = max(out.get(k, 0), n) if k == "deepest" else out.get(k, 0) + n
    return out


def freeze_lengths(ages: list[float]) -> list[float]:
    """Each freeze's length: the newest frame's age at its oldest before a newer frame came."""
    peaks: list[float] = []
    for before, after in zip(ages, ages[1:] + [0.0], strict=True):
        if after < before:
            peaks.append(before)
    return peaks


async def _fixes_in(handler: Operator, incident_id: str, sent: int) -> bool:
    return len((await handler.record(incident_id))["fixes"]) >= sent


async def total_loss(gp: GatewayProcess, video: Path, outage: float = 15.0) -> dict[str, Any]:
    async with gp.handler() as handler:
        with caller_net() as net:
            async with impaired_browser(net, chromium_args(video)) as browser:
                phones = Phones(browser)
                incident, _ = await start_call(handler, phones)
                net.netem(NO_SIGNAL)
                await asyncio.sleep(outage)
                before = await frames(handler, incident["id"])
                net.set({})  # at once, not after the harness's one-second settle
                cleared = time.monotonic()
                to_video = await until(lambda: _video_again(handler, incident["id"], before), 60)
                full = await until(lambda: _full_size(handler, incident["id"]), 60, 0.5)
                to_full = None if full is None else time.monotonic() - cleared
                await phones.close()
    return {
        "to_video_s": None if to_video is None else round(to_video, 1),
        "to_640x480_s": None if to_full is None else round(to_full, 1),
    }


async def _video_again(handler: Operator, incident_id: str, before: int) -> bool:
    """A frame decoded in the last half second (by this session or the page's new one)."""
    age = (await stream(handler, incident_id)).get("frame_age_seconds")
    return age is not None and age < 0.5


async def _full_size(handler: Operator, incident_id: str) -> bool:
    health = (await stream(handler, incident_id)).get("stream") or {}
    return health.get("width") == 640 and health.get("height") == 480 and (health.get("fps") or 0) > 0


async def gateway_restart(gp: GatewayProcess, video: Path) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=os.environ.get("SCENELINK_CHROMIUM", "/usr/bin/chromium"),
                                          headless=True, args=chromium_args(video))
        phones = Phones(browser)
        async with gp.handler() as handler:
            incident, _ = await start_call(handler, phones)
        watcher = Watcher(gp.gw.base_url, gp.token())
        gp.kill()
        await asyncio.sleep(1.0)
        answered = gp.start()
        waited = await until(lambda: _watched_frames(watcher, incident["id"]), 60, 0.05)
        # From the restarted gateway's first answer to frames from the page's new connection.
        to_video = None if waited is None else time.monotonic() - answered
        await watcher.close()
        # Camera ended, on the same gateway.
        async with gp.handler() as handler:
            incident, page = await start_call(handler, phones)
            await page.evaluate(
                """() => {
                     navigator.mediaDevices.getUserMedia = () =>
                       Promise.reject(new DOMException("in use by another app", "NotReadableError"));
                     const track = document.getElementById("preview").srcObject.getVideoTracks()[0];
                     track.stop();
                     track.dispatchEvent(new Event("ended"));
                   }"""
            )
            seen = await until(lambda: _camera_ended(handler, incident["id"]), 30, 0.05)
            told = await page.locator("#notice").is_visible()
        await phones.close()
        await browser.close()
    return {
        "restart_to_video_s": None if to_video is None else round(to_video, 1),
        "camera_ended_seen_s": None if seen is None else round(seen, 2),
        "caller_told": told,
    }


async def _watched_frames(watcher: Watcher, incident_id: str) -> bool:
    return ((await watcher.stream(incident_id)).get("frames") or 0) > 0


async def _camera_ended(handler: Operator, incident_id: str) -> bool:
    status = (await handler.get(f"/api/incidents/{incident_id}/caller"))["status"]
    return bool(status and (status.get("camera") or {}).get("state") == "ended")


# -- running and reporting -------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    video = load_make_video().ensure_video(VIDEO_PATH)
    folder = Path(tempfile.mkdtemp(prefix="bench-signal-"))
    results: dict[str, Any] = {}
    for recovery in (True, False):
        name = "recovery" if recovery else "aiortc alone"
        gp = GatewayProcess(folder, recovery)
        gp.start()
        try:
            log(f"[{name}] lossy link for {args.seconds:.0f} s")
            results.setdefault("lossy", {})[name] = await lossy_link(gp, video, args.seconds)
            log(f"  {results['lossy'][name]}")
            if args.lossy_only:
                continue
            log(f"[{name}] {args.outage:.0f} s of total loss, then a clean network")
            results.setdefault("outage", {})[name] = await total_loss(gp, video, args.outage)
            log(f"  {results['outage'][name]}")
            if recovery:
                log("[recovery] gateway killed and restarted; camera ended")
                results["restart"] = await gateway_restart(gp, video)
                log(f"  {results['restart']}")
        finally:
            gp.stop()
    results["machine"] = machine()
    results["seconds"] = args.seconds
    results["outage_seconds"] = args.outage
    return results


def section(r: dict[str, Any]) -> str:
    on, off = r["lossy"]["recovery"], r["lossy"]["aiortc alone"]
    oon, ooff = r["outage"]["recovery"], r["outage"]["aiortc alone"]
    kon, koff = on["keyframes"] or {}, off["keyframes"] or {}
    don, doff = on["decoder_queue"] or {}, off["decoder_queue"] or {}
    rs = r["restart"]

    def ratio(a, b):
        return f"{b / a:.1f}x" if a and b else "—"

    def v(x, unit=""):
        return "—" if x is None else f"{x}{unit}"

    lines = [
        "## The stream on a bad signal",
        "",
        "Reproduce with `make bench-signal` (`tests/netns-run .venv/bin/python -m benchmarks.bench_signal`, as root).",
        "A real Chromium caller (the sample video as its camera, 640x480 at 15 fps) in its own network",
        "namespace behind the userspace impairment bridge (`../shared/tools/impair`), the gateway as",
        "`make run` runs it. \"aiortc alone\" is the same gateway with `media.keyframe_recovery = false`,",
        "measured in the same run. Figures from one run; absolute times vary with the machine and its load,",
        "so compare the two columns. The longest freeze is the largest of: the gateway's own longest time",
        "between two decoded frames (exact, per session of the page's), the newest frame's age polled every",
        "0.2 s, and the time the frame count stood still across the page connecting afresh (the page does",
        "when the link looks dead; counters are summed over its sessions). The frame rate is stream",
        "health's: every frame that arrived whole, as a forwarded view gets them. The page sends VP8 in",
        "temporal layers, and with keyframe recovery the gateway decodes only the base layer (a frame in",
        "four, so its decoded frames are at most about 0.27 s apart); aiortc alone decodes every frame.",
        "",
        f"- Machine: {r['machine']}.",
        "",
        f"### {r['seconds']:.0f} s at 5 % loss each way, +100 ms, 500 kbit/s",
        "",
        "| | target | keyframe recovery | aiortc alone | ratio |",
        "|---|---|---:|---:|---:|",
        f"| longest freeze at the gateway | <= 2 s | **{on['longest_freeze_s']} s** | {off['longest_freeze_s']} s | {ratio(on['longest_freeze_s'], off['longest_freeze_s'])} shorter |",
        f"| of which: between two decoded frames of a session (the gateway's exact figure) | | {v(on['longest_freeze_exact_s'], ' s')} | {v(off['longest_freeze_exact_s'], ' s')} | |",
        f"| of which: the newest frame's age, polled every 0.2 s | | {on['longest_freeze_polled_s']} s | {off['longest_freeze_polled_s']} s | |",
        f"| of which: across the page connecting afresh (polled) / sessions | | {on['longest_freeze_across_reconnections_s']} s / {on['sessions']} | {off['longest_freeze_across_reconnections_s']} s / {off['sessions']} | |",
        f"| median frame rate | >= 10 fps | **{v(on['median_fps'])} fps** | {v(off['median_fps'])} fps | |",
        f"| snapshots answered as fresh with a frame over {STALE_AFTER:.0f} s old | 0 | **{on['snapshots']['stale_as_fresh']}** | {off['snapshots']['stale_as_fresh']} | |",
        f"| snapshots refused as stale (409) / fresh (201) / other (e.g. 409 no video between sessions) | | {on['snapshots']['refused_stale']} / {on['snapshots']['fresh']} / {on['snapshots']['other']} | {off['snapshots']['refused_stale']} / {off['snapshots']['fresh']} / {off['snapshots']['other']} | |",
        f"| fixes lost / stored twice (of those the page numbered) | 0 / 0 | **{on['fixes_lost']} / {on['fixes_duplicated']}** (of {on['fixes_sent']}) | {off['fixes_lost']} / {off['fixes_duplicated']} (of {off['fixes_sent']}) | |",
        f"| freezes over 1 s (polled) | | {on['freezes_over_1s']} | {off['freezes_over_1s']} | |",
        f"| keyframe requests (PLI) / stalls skipped (of which upper-layer frames only, no PLI) | | {v(kon.get('plis'))} / {v(kon.get('stalls'))} ({v(kon.get('upper_layer_skips'))}) | {v(koff.get('plis'))} / — | |",
        f"| packets asked for again (NACK) / filled only by that | | {v(kon.get('nacks'))} / {v(kon.get('refilled'))} | — | |",
        f"| frames dropped by the decoder queue (deepest) | | {v(don.get('dropped'))} ({v(don.get('deepest'))}) | {v(doff.get('dropped'))} ({v(doff.get('deepest'))}) | |",
        "",
        f"### {r['outage_seconds']:.0f} s of total loss, then a clean network",
        "",
        "| | target | keyframe recovery | aiortc alone |",
        "|---|---|---:|---:|",
        f"| video again at the gateway | <= 3 s | **{v(oon['to_video_s'], ' s')}** | {v(ooff['to_video_s'], ' s')} |",
        f"| back at 640x480 (stream health, every 2 s) | <= 30 s | **{v(oon['to_640x480_s'], ' s')}** | {v(ooff['to_640x480_s'], ' s')} |",
        "",
        "### Gateway killed (SIGKILL) and restarted; camera ended",
        "",
        "| | target | measured | before keyframe recovery and the page's fixes |",
        "|---|---|---:|---:|",
        f"| video again, from the restarted gateway's first answer | <= 2 s | **{v(rs['restart_to_video_s'], ' s')}** | about 6 s |",
        f"| the handler sees the camera ended | <= 2 s | **{v(rs['camera_ended_seen_s'], ' s')}** | never (page said \"video\") |",
        f"| the caller is told | yes | {'yes' if rs['caller_told'] else 'no'} | no |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the lossy-link run")
    parser.add_argument("--outage", type=float, default=15.0, help="length of the total loss")
    parser.add_argument("--lossy-only", action="store_true", help="only the lossy link (implies --no-write)")
    parser.add_argument("--no-write", action="store_true", help="leave docs/performance.md alone")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2))
    if args.lossy_only:
        return 0
    text = section(results)
    print(text)
    if not args.no_write:
        write_section(BEGIN, END, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
