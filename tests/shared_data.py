"""Where the shared sample data lives (``../shared/data/`` beside the checkout), for tests and benchmarks.

The data is never committed (see its SOURCES.md); it is read from where it sits. A clone one level
deeper (``work/wt/NAME``) finds it two levels up, and a clone in a temporary folder finds it beside
the repository it was cloned from; ``SCENELINK_SHARED_DATA`` names the folder outright.
Under ``CI=true`` and ``make test`` a test that needs it fails when it is missing; elsewhere it is
skipped (tests/strict.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .strict import require

ROOT = Path(__file__).resolve().parents[1]


def shared_folder(relative: str) -> Path:
    """A folder of ``../shared`` (e.g. ``tools/impair``), wherever this checkout finds it: beside the
    clone (as CI has it), one level further up, or beside the repository this clone came from."""
    bases = [ROOT.parent / "shared", ROOT.parent.parent / "shared"]
    origin = _origin()
    if origin is not None:
        bases.append(origin.parent / "shared")
    candidates = [base / relative for base in bases]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def shared_data(name: str) -> Path:
    """The folder ``name`` of the shared data (it may not exist)."""
    candidates = []
    if os.environ.get("SCENELINK_SHARED_DATA"):
        candidates.append(Path(os.environ["SCENELINK_SHARED_DATA"]) / name)
    candidates += [ROOT.parent / "shared" / "data" / name, ROOT.parent.parent / "shared" / "data" / name]
    origin = _origin()
    if origin is not None:
        # A clone made elsewhere (a temporary folder) finds the data beside the repository it came from.
        candidates.append(origin.parent / "shared" / "data" / name)
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _origin() -> Path | None:
    """The local repository this checkout was cloned from, if it was cloned from a folder."""
    try:
        url = subprocess.run(
            ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(url.removeprefix("file://")) if url and "://" not in url.removeprefix("file://") else None
    return path if path is not None and path.is_dir() else None


def require_shared_data(name: str) -> Path:
    """The folder, or skip the test (fail it under CI) when it is not there."""
    folder = shared_data(name)
    require(folder.is_dir(), f"shared data {name!r} not found (looked for {folder}); see ../shared/data")
    return folder
