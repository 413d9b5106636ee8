"""What relaying through TURN costs a caller: round trip, frame rate and CPU, against going direct.

One gateway (with `[turn]`) and one coturn (the documented configuration, docs/deploy/coturn/,
plus the test's site lines) inside the private test network; a real Chromium caller streaming the
sample video from a namespace of its own (tests/e2e/firewalled.py) whose firewall decides the path:

- direct: UDP to the gateway allowed (Chromium takes the host pair);
- TURN over UDP: only UDP 3478 to coturn (and the page over HTTPS);
- TURN over TLS on 443: only TCP 443 to coturn (and the page): the HTTPS-only network.

Each path streams for ``--seconds`` after a warm-up, in the same run, one after the other. For
each: the selected candidate pair's types (asserted: host, then relay), the ICE round trip from
Chromium's getStats (STUN consent checks travel the same path as the media), the frame rate the
camera sends and the gateway receives, and the CPU time of coturn and of the gateway process
over the window.

Chromium checks consent only every few seconds, in whole milliseconds: too few and too coarse to
show what a relay adds on one machine. So the same run also times a thousand datagram round trips
to a UDP echo on the gateway's address, directly and through coturn over UDP and over TLS.

    make bench-turn            # tests/netns-run .venv/bin/python -m benchmarks.bench_turn
    ... -m benchmarks.bench_turn --seconds 10 --no-write      # a short smoke run

Writes the "TURN" section of docs/performance.md unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.procstat import process_cpu_seconds  # noqa: E402
from benchmarks.report import machine, write_section  # noqa: E402
from gateway.tls import ensure_self_signed  # noqa: E402
from tests.e2e.callers import Operator, Phones, eventually  # noqa: E402
from tests.e2e.conftest import HOST, chromium_args, running_gateway  # noqa: E402
from tests.e2e.firewalled import browser_in, firewalled_caller  # noqa: E402
from tests.e2e.test_turn import SELECTED_PAIR, TURN_HOST, WATCH_PEERS  # noqa: E402
from tests.services.coturn import coturn  # noqa: E402

BEGIN, END = "<!-- turn:begin -->", "<!-- turn:end -->"
SECRET = "bench-turn-secret-0123456789abcdef"

# What the page's connection is doing, sampled once a second.
SAMPLE = """
async () => {
  const pc = window.__pcs.filter((p) => p.connectionState === "connected").pop();
  if (!pc) return null;
  const stats = await pc.getStats();
  let rtt = null, fps = null, width = null, bytes = null, total = null, responses = null;
  stats.forEach((r) => {
    if (r.type === "transport" && r.selectedCandidatePairId) {
      const pair = stats.get(r.selectedCandidatePairId);
      if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime;
      if (pair) { total = pair.totalRoundTripTime; responses = pair.responsesReceived; }
    }
    if (r.type === "outbound-rtp" && r.kind === "video") {
      fps = r.framesPerSecond ?? null; width = r.frameWidth ?? null; bytes = r.bytesSent;
    }
  });
  return { rtt, fps, width, bytes, total, responses };
}
"""

PATHS = {
    "direct": lambda port: [("tcp", HOST, port), ("any", HOST, None)],
    "TURN over UDP": lambda port: [("tcp", HOST, port), ("udp", TURN_HOST, 3478)],
    "TURN over TLS, 443": lambda port: [("tcp", HOST, port), ("tcp", TURN_HOST, 443)],
}


CAMERA_Y4M = ROOT / "samples" / "build" / "bench-640x480-15fps-10s.y4m"


def camera_like_video(path: Path = CAMERA_Y4M, seconds: int = 10) -> Path:
    """The media benchmark's camera-like picture (benchmarks/media_sample.py: texture, hand-held
    pan, sensor noise; about 1.2 Mbit/s in VP8) as a y4m file Chromium's fake camera can loop:
    the path's cost depends on the bitrate, and the plain sample scene needs far less."""
    import av

    from benchmarks.media_sample import FPS, ensure_video

    if path.exists() and path.stat().st_size:
        return path
    source = ensure_video()
    tmp = path.with_name(path.stem + ".tmp.y4m")
    with av.open(str(source)) as src, av.open(str(tmp), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for n, frame in enumerate(src.decode(video=0)):
            if n >= seconds * FPS:
                break
            frame = frame.reformat(format="yuv420p")
            frame.pts = n
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.replace(path)
    return path


class _Echo(asyncio.DatagramProtocol):
    """Sends back whatever it receives: the far end of the round trips below."""

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.transport.sendto(data, addr)


class _Waiter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.replies.put_nowait(data)


async def relay_round_trips(count: int = 1000) -> dict[str, list[float]]:
    """Round trips of 200-byte datagrams to a UDP echo on the gateway's address, one at a time:
    sent directly, and through a coturn relay reached over UDP 3478 and over TLS on 443. The
    difference is what the relay itself adds to every packet, with thousands of samples rather
    than the browser's few consent checks."""
    import ssl

    from aioice import turn

    from gateway.turn import mint

    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(_Echo, local_addr=(HOST, 0))
    target = echo.get_extra_info("sockname")[:2]
    no_verify = ssl.create_default_context()
    no_verify.check_hostname, no_verify.verify_mode = False, ssl.CERT_NONE
    out: dict[str, list[float]] = {}
    try:
        for name, how in (("direct", None), ("TURN over UDP", ("udp", 3478, None)),
                          ("TURN over TLS, 443", ("tcp", 443, no_verify))):
            if how is None:
                transport, waiter = await loop.create_datagram_endpoint(_Waiter, local_addr=(HOST, 0))
            else:
                cred = mint(SECRET.encode(), "bench-echo", int(time.time()) + 600)
                kwargs = {"ssl": how[2]} if how[2] else {}
                transport, waiter = await turn.create_turn_endpoint(
                    _Waiter, server_addr=(TURN_HOST, how[1]), username=cred.username,
                    password=cred.credential, transport=how[0], **kwargs)
            samples = []
            payload = bytes(200)
            for i in range(count + 20):
                t0 = time.perf_counter()
                transport.sendto(payload, target)
                await asyncio.wait_for(waiter.replies.get(), 2)
                if i >= 20:  # the first few set up the channel
                    samples.append((time.perf_counter() - t0) * 1000)
            transport.close()
            out[name] = samples
    finally:
        echo.close()
    return out


def log(text: str) -> None:
    print(text, flush=True)


async def stream_one(net, gw, coturn_pid: int, path: str, seconds: float, video: Path) -> dict:
    async with Operator(gw.base_url, "handler1", gw.passwords["handler1"]) as handler:
        incident, link = await handler.incident()
        async with browser_in(net, [*chromium_args(video), "--ignore-certificate-errors"]) as browser:
            phones = Phones(browser)
            page = await phones.open(link["url"], init_script=WATCH_PEERS)
            await page.tap("#start")
            pair = await eventually(lambda: page.evaluate(SELECTED_PAIR), timeout=30)

            async def gateway_frames() -> int:
                health = (await handler.get(f"/api/incidents/{incident['id']}/stream")).get("stream") or {}
                return int(health.get("frames") or 0)

            await asyncio.sleep(5)  # warm-up: the sender's bandwidth estimate settles
            frames0, bytes0 = await gateway_frames(), None
            cpu0 = (process_cpu_seconds(coturn_pid), process_cpu_seconds(gw.proc.pid))
            t0 = time.monotonic()
            samples = []
            while time.monotonic() - t0 < seconds:
                sample = await page.evaluate(SAMPLE)
                if sample:
                    samples.append(sample)
                    bytes0 = bytes0 if bytes0 is not None else sample["bytes"]
                await asyncio.sleep(1)
            span = time.monotonic() - t0
            cpu1 = (process_cpu_seconds(coturn_pid), process_cpu_seconds(gw.proc.pid))
            frames1 = await gateway_frames()
            await phones.close()
    rtts = [s["rtt"] * 1000 for s in samples if s["rtt"] is not None]
    # The mean over the window of every consent check's round trip (each is whole milliseconds;
    # their mean is finer than one sample).
    checks = samples[-1]["responses"] - samples[0]["responses"] if samples else 0
    mean_rtt = (samples[-1]["total"] - samples[0]["total"]) * 1000 / checks if checks else None
    sent = [s["fps"] for s in samples if s["fps"] is not None]
    widths = [s["width"] for s in samples if s["width"]]
    kbits = (samples[-1]["bytes"] - bytes0) * 8 / 1000 / span if samples and bytes0 is not None else None
    return {
        "path": path, "local": pair["local"]["type"], "protocol": pair["local"].get("relayProtocol"),
        "remote": pair["remote"]["type"], "rtt_ms": statistics.median(rtts) if rtts else None,
        "rtt_mean_ms": mean_rtt, "checks": checks,
        "rtt_p95_ms": sorted(rtts)[int(0.95 * (len(rtts) - 1))] if rtts else None,
        "sent_fps": statistics.median(sent) if sent else None,
        "width": statistics.median(widths) if widths else None,
        "received_fps": (frames1 - frames0) / span, "kbit_s": kbits,
        "coturn_cpu": (cpu1[0] - cpu0[0]) / span * 100, "gateway_cpu": (cpu1[1] - cpu0[1]) / span * 100,
    }


def report(results: list[dict], seconds: float, trips: dict[str, list[float]]) -> str:
    rows = []
    for r in results:
        rows.append(
            f"| {r['path']} | {r['local']}{'/' + r['protocol'] if r['protocol'] else ''} -> {r['remote']} "
            f"| {r['rtt_mean_ms']:.2f} ({r['checks']}) | {r['rtt_ms']:.0f} | {r['rtt_p95_ms']:.0f} | {r['sent_fps']:.0f} ({r['width']:.0f} px wide) "
            f"| {r['received_fps']:.1f} | {r['kbit_s']:.0f} | {r['coturn_cpu']:.1f}% | {r['gateway_cpu']:.1f}% |"
        )
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[int(q * (len(ordered) - 1))]

    base = statistics.median(trips["direct"])
    trip_rows = "\n".join(
        f"| {name} | {statistics.median(v):.3f} | {pct(v, 0.95):.3f} | {pct(v, 0.99):.3f} "
        f"| {statistics.median(v) - base:+.3f} |"
        for name, v in trips.items()
    )
    extra = ", ".join(
        f"{r['path']} {statistics.median(trips[r['path']]) - base:+.2f} ms a round trip (median) and "
        f"{r['coturn_cpu']:.1f}% of a core in coturn for {r['kbit_s'] / 1000:.1f} Mbit/s"
        for r in results[1:]
    )
    return f"""## TURN: relaying a caller against going direct

Reproduce: `make bench-turn` (root; the private test network). Machine: {machine()}.

One Chromium caller streaming a camera-like picture (640x480, 15 fps, noisy: the media
benchmark's, looped) from a namespace whose firewall
chooses the path, {seconds:.0f} s per path after a 5 s warm-up, one path after the other in the same
run, to one gateway and one coturn (the documented configuration). Round trip: Chromium's
selected candidate pair, whose STUN consent checks travel the media's path (through the relay
when relayed): the mean of every check in the window (`totalRoundTripTime` / `responsesReceived`),
and the median and p95 of `currentRoundTripTime` sampled once a second (whole milliseconds). CPU: coturn's and
the gateway process's CPU time over the window, as a share of one core.

| path | pair (caller -> gateway) | RTT mean, ms (checks) | RTT median, ms | RTT p95, ms | camera sends, fps | gateway receives, fps | sent, kbit/s | coturn CPU | gateway CPU |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

What the relay adds to each packet, measured without a browser in the same run: {len(trips["direct"])}
round trips of a 200-byte datagram, one at a time, to a UDP echo on the gateway's address, sent
directly and through a coturn relay (aioice's TURN client):

| path | round trip median, ms | p95, ms | p99, ms | median against direct, ms |
|---|---|---|---|---|
{trip_rows}

Against direct, in this run: {extra}. All of it inside one machine, so the round trips measure
the relay's own processing (user-space forwarding, TLS for 443), not distance: on a real network
add the detour to the TURN server's site. The gateway's own CPU does not depend on the path.
"""


async def main(seconds: float, write: bool) -> None:
    video = camera_like_video()
    with tempfile.TemporaryDirectory(prefix="bench-turn-") as tmp:
        folder = Path(tmp)
        cert, key = ensure_self_signed(folder / "tls", [TURN_HOST])
        with socket_port() as port, firewalled_caller([(HOST, port)], extra_near=(TURN_HOST,)) as net:
            site = [
                "realm=turn.test.invalid", f"listening-ip={TURN_HOST}", f"relay-ip={HOST}",
                f"cert={cert}", f"pkey={key}", f"static-auth-secret={SECRET}", f"allowed-peer-ip={HOST}",
            ]
            with coturn(folder / "coturn", site, wait_for=(TURN_HOST, 443)) as server:
                secret_file = folder / "turn.secret"
                with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
                    fh.write(SECRET)
                config = folder / "scenelink.toml"
                config.write_text(
                    f'[turn]\nurls = ["turns:{TURN_HOST}:443?transport=tcp", "turn:{TURN_HOST}:3478?transport=udp"]\n'
                    f'secret_file = "{secret_file}"\n[server]\ndrain_seconds = 0.1\n'
                )
                with running_gateway(folder / "data", {"SCENELINK_PORT": str(port)}, config=config,
                                     operators=("handler1",)) as gw:
                    results = []
                    log("relay round trips ...")
                    trips = await relay_round_trips()
                    for path, flows in PATHS.items():
                        net.allow(flows(port))
                        log(f"{path}: streaming {seconds:.0f} s ...")
                        result = await stream_one(net, gw, server.proc.pid, path, seconds, video)
                        log(f"  {result}")
                        results.append(result)
    assert results[0]["local"] == "host", "direct must take the host pair"
    assert all(r["local"] == "relay" for r in results[1:]), "TURN paths must be relayed"
    text = report(results, seconds, trips)
    print(text)
    if write:
        write_section(BEGIN, END, text, after="<!-- planes:end -->")


class socket_port:
    """A free TCP port on the test address, chosen before the firewall names it."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind((HOST, 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, not args.no_write))
