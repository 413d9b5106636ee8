"""`scenelink serve` stops in the ordinary way on SIGTERM (as systemd and a rolling restart stop
it): the drain runs with every task still alive, open event streams are ended after a short grace,
and the process exits 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

from gateway.web.serving import SHUTDOWN_GRACE_SECONDS

SCENELINK = Path(sys.executable).with_name("scenelink")
PASSWORD = "a long password for the serving test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_sigterm_with_event_streams_open_stops_the_node_cleanly(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "SCENELINK_DATA_DIR": str(tmp_path / "data"), "SCENELINK_TLS": "off",
        "SCENELINK_HOST": "127.0.0.1", "SCENELINK_PORT": str(port), "SCENELINK_PUBLIC_URL": base,
        "SCENELINK_ADMIN_PASSWORD": PASSWORD,
    }
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(SCENELINK), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            page = await (await http.get(base + "/login")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            form = {"username": "admin", "password": PASSWORD, "csrf": csrf}
            assert (await http.post(base + "/login", data=form, allow_redirects=False)).status == 303
            streams = [await http.ws_connect(base.replace("http", "ws") + "/api/events") for _ in range(3)]

            stopping = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            # No caller to drain: what is left is the grace for open requests, then the exit.
            while proc.poll() is None:
                assert time.monotonic() - stopping < SHUTDOWN_GRACE_SECONDS + 20, "still running"
                time.sleep(0.1)
            text = log.read_text()
            assert proc.returncode == 0, text[-3000:]
            assert "SIGTERM: stopping (draining first)" in text
            assert "Traceback" not in text, text[-3000:]
            for ws in streams:  # each stream was ended by the node, not left hanging
                msg = await ws.receive(timeout=5)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
