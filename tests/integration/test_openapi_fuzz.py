"""schemathesis against a live gateway, with an admin token and a real caller link: no answer is a
server error and every answer fits the OpenAPI description.

The run is bounded (a few examples per operation, a time budget) so the suite stays quick; what it
covers and what it found is in docs/api.md ("The contract"). The live streams (MJPEG, WebSocket
events) are left out: they answer with a stream that does not end.
"""

from __future__ import annotations

import json
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

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def live_gateway(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "SCENELINK_DATA_DIR": str(tmp_path / "data"), "SCENELINK_HOST": "127.0.0.1",
        "SCENELINK_PORT": str(port), "SCENELINK_TLS": "off", "SCENELINK_PUBLIC_URL": base,
        "SCENELINK_ADMIN_PASSWORD": secrets.token_urlsafe(18), "PYTHONUNBUFFERED": "1",
    }
    made = subprocess.run(
        [PYTHON, "-m", "gateway", "tokens", "create", "fuzz", "--role", "admin"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    log = open(tmp_path / "gateway.log", "wb")
    proc = subprocess.Popen([PYTHON, "-m", "gateway", "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "gateway.log").read_text()
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        yield base, token, tmp_path / "gateway.log"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.timeout(480)
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(live_gateway, tmp_path):
    base, token, log = live_gateway
    incident = _call(base + "/api/incidents", token, {"reference": "WYP-FUZZ-1", "caller_phone": "07400 123456"})
    link = _call(f"{base}/api/incidents/{incident['id']}/links", token, {})
    caller_token = link["url"].rsplit("/c/", 1)[1]
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[[operations]]\n"
        'include-path-regex = "^/c/"\n'
        f'parameters = {{ "path.token" = "{caller_token}" }}\n'
    )
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            SCHEMATHESIS, "--config-file", str(config), "run", f"{base}/api/openapi.json",
            "-H", f"Authorization: Bearer {token}",
            "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance,"
                        "status_code_conformance",
            "--exclude-path-regex", "(mjpeg|events)$",
            "--max-examples", "2", "--phases", "examples,fuzzing", "--workers", "2",
            "--request-timeout", "20", "--seed", "1", "--max-time", "30",
            "--no-color", "--report", "json", "--report-json-path", str(report),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:] + "\n" + log.read_text()[-3000:]
