"""What every benchmark's report shares: the machine it ran on, and its own section of
``docs/performance.md`` replaced in place between its markers."""

from __future__ import annotations

import os
import platform
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """The machine and how busy it was when the run ended: figures from machines of one kind
    differ by up to 2x, so a report names the CPU and the load beside its ratios."""
    load = os.getloadavg()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu_model()}, {os.cpu_count()} logical CPUs, {mem:.0f} GiB, Linux {platform.release()}, "
            f"Python {platform.python_version()}; load average {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f} (1 / 5 / 15 min) when the run ended")


def write_section(begin: str, end: str, text: str, *, after: str | None = None, doc: Path = DOC) -> None:
    """Put ``text`` between the markers ``begin`` and ``end`` in ``doc``, replacing what was there.

    A section not there yet goes after the marker ``after`` when that is present, else at the end.
    """
    block = f"{begin}\n{text.strip()}\n{end}"
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    elif after is not None and after in current:
        current = current.replace(after, f"{after}\n\n{block}", 1)
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(current, encoding="utf-8")
