"""A redis-server of the test's own, on a Unix socket in a temporary folder.

The suite runs inside a private network namespace, where the machine's own Redis on 127.0.0.1 is
out of reach; a server started here is reachable by its socket file and holds only what the test
put in it. A missing ``redis-server`` is a requirement (tests/strict.py): a failure under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket as sock
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..strict import require
from .processes import stop


def _answers(path: Path) -> bool:
    """True once the server accepts a connection and answers PING."""
    try:
        with sock.socket(sock.AF_UNIX, sock.SOCK_STREAM) as conn:
            conn.settimeout(1)
            conn.connect(str(path))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Start a server, yield its ``unix://`` URL, stop it."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    require(
        os.path.exists(binary), "redis-server is not installed (Debian package redis-server; `make test` installs it)"
    )
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "redis.sock"
    socket.unlink(missing_ok=True)
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers(socket):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
        yield f"unix://{socket}"
    finally:
        stop(process)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path / "redis") as url:
        yield url
