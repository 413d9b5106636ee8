"""coturn of the test's own, run with the documented configuration (docs/deploy/coturn/) as it is,
followed by the site lines a force would append: addresses, certificate, the shared secret.

A missing ``turnserver`` (Debian's ``coturn``) is a requirement (tests/strict.py): a failure under
``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..strict import require
from .processes import stop

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_CONFIG = ROOT / "docs" / "deploy" / "coturn" / "turnserver.conf"
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"


@dataclass
class Coturn:
    proc: subprocess.Popen
    config: Path
    log: Path

    def log_text(self) -> str:
        # coturn may name its log file after the configured one, with a date added.
        parts = [p.read_text(errors="replace") for p in sorted(self.log.parent.iterdir())]
        return "\n".join(parts)

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far (from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def coturn(folder: Path, site_lines: list[str], wait_for: tuple[str, int]) -> Iterator[Coturn]:
    """Start coturn with the documented file plus ``site_lines``; ready once ``wait_for`` accepts."""
    require(Path(TURNSERVER).exists(), f"coturn's turnserver was not found ({TURNSERVER}; `make browsers` installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "log").mkdir(exist_ok=True)
    log = folder / "log" / "turn.log"
    config = folder / "turnserver.conf"
    text = DOCUMENTED_CONFIG.read_text() + "\n# --- the test's site lines\n" + "\n".join(
        [*site_lines, f"log-file={log}", f"pidfile={folder / 'turnserver.pid'}"]) + "\n"
    config.unlink(missing_ok=True)
    with open(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:  # it holds the secret
        fh.write(text)
    proc = subprocess.Popen([TURNSERVER, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Coturn(proc, config, log)
    try:
        deadline = time.monotonic() + 15
        while not _listening(*wait_for):
            if proc.poll() is not None:
                raise RuntimeError(f"coturn exited with {proc.returncode}:\n{server.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"coturn did not listen on {wait_for} within 15 s:\n{server.log_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        stop(proc, timeout=5)
