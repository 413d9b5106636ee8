"""`scenelink serve` runs on uvloop: libuv reads every datagram waiting on a socket per wake-up."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import uvloop

from gateway.web.serving import loop_factory, loop_name

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def test_the_loop_factories_make_the_loop_they_are_named_for():
    async def running() -> str:
        return loop_name(asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
        assert runner.run(running()) == "uvloop.Loop"
    with asyncio.Runner(loop_factory=loop_factory("asyncio")) as runner:
        assert runner.run(running()).startswith("asyncio.")
    with pytest.raises(ValueError):
        loop_factory("trio")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scenelink_serve_answers_on_uvloop(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "SCENELINK_DATA_DIR": str(tmp_path / "data"), "SCENELINK_HOST": "127.0.0.1",
        "SCENELINK_PORT": str(port), "SCENELINK_TLS": "off", "SCENELINK_PUBLIC_URL": base,
        "SCENELINK_ADMIN_PASSWORD": secrets.token_urlsafe(18), "PYTHONUNBUFFERED": "1",
    }
    env.pop("SCENELINK_EVENT_LOOP", None)
    log_path = tmp_path / "gateway.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([PYTHON, "-m", "gateway", "serve"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                        assert resp.status == 200
                        break
                except OSError:
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "the gateway did not start"
                    time.sleep(0.2)
            # The line is written from inside the running loop, before the site opens.
            assert "event loop: uvloop.Loop" in log_path.read_text()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                assert proc.wait(timeout=15) == 0, log_path.read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
