"""Debian's Janus of the test's own, started with the deployment guide's configuration files.

The files in docs/deploy/janus/ are copied as they are; only the lines a force changes for its
machine (marked CHANGE there) and the WebSocket port are set here: fresh secrets, this test
network's address for ICE, a free port, the folder they were copied to. A missing ``janus`` is a
requirement (tests/strict.py): a failure under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..strict import require
from .processes import stop

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "docs" / "deploy" / "janus"
STARTUP_SECONDS = 20


@dataclass
class Janus:
    url: str
    api_secret: str = field(repr=False)
    admin_key: str = field(repr=False)
    log_path: Path
    pid: int = 0

    def env(self) -> dict[str, str]:
        """What a gateway needs to use this Janus as its media plane."""
        return {
            "SCENELINK_MEDIA_PLANE": "janus",
            "SCENELINK_JANUS_URL": self.url,
            "SCENELINK_JANUS_API_SECRET": self.api_secret,
            "SCENELINK_JANUS_ADMIN_KEY": self.admin_key,
        }

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no Janus log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _set(text: str, key: str, value: str) -> str:
    changed, count = re.subn(rf'(?m)^(\s*){key} = .*$', lambda m: f'{m.group(1)}{key} = {value}', text)
    assert count == 1, f"{key} is not set exactly once"
    return changed


def write_config(folder: Path, ice_address: str, port: int, api_secret: str, admin_key: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # the files hold secrets
    main = (CONFIGS / "janus.jcfg").read_text()
    main = _set(main, "configs_folder", f'"{folder}"')
    main = _set(main, "api_secret", f'"{api_secret}"')
    main = _set(main, "admin_secret", f'"{secrets.token_urlsafe(24)}"')
    main = _set(main, "ice_enforce_list", f'"{ice_address}"')
    (folder / "janus.jcfg").write_text(main)
    ws = _set((CONFIGS / "janus.transport.websockets.jcfg").read_text(), "ws_port", str(port))
    (folder / "janus.transport.websockets.jcfg").write_text(ws)
    room = _set((CONFIGS / "janus.plugin.videoroom.jcfg").read_text(), "admin_key", f'"{admin_key}"')
    (folder / "janus.plugin.videoroom.jcfg").write_text(room)
    return folder / "janus.jcfg"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def janus_server(folder: Path, ice_address: str) -> Iterator[Janus]:
    """Start Janus with the deployment guide's files, yield how to reach it, stop it."""
    binary = shutil.which("janus") or "/usr/bin/janus"
    require(os.path.exists(binary), "janus is not installed (Debian package janus; `make browsers` installs it)")
    port = _free_port()
    janus = Janus(f"ws://127.0.0.1:{port}/", secrets.token_urlsafe(24), secrets.token_urlsafe(24),
                  folder / "janus.log")
    config = write_config(folder, ice_address, port, janus.api_secret, janus.admin_key)
    log = open(janus.log_path, "wb")
    process = subprocess.Popen(
        [binary, "-C", str(config), "-F", str(folder), "-o", "-r", "21000-21999"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    janus.pid = process.pid
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"janus did not start:\n{janus.log_tail()}")
            time.sleep(0.05)
        yield janus
    finally:
        stop(process)
        log.close()
