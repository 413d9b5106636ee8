"""A caller on a bad network: Chromium in its own namespace behind the userspace impairment bridge.

The bridge is the shared harness in ``../shared/tools/impair/`` (this kernel has no netem): its
``CallerNet`` moves ``v1`` (the peer of the test network's ``v0``, 10.99.0.1) into a middle
namespace where ``l2bridge.py`` forwards frames to the caller's namespace (10.99.0.2) with loss,
delay and a rate limit per direction. It is used where it lies, beside this clone, as CI has it.

On closing, ``v1`` is moved back into the test namespace before the middle namespace goes: a veth
pair dies with either end, and ``v0`` carries the address every other test uses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from ..shared_data import shared_folder

ROOT = Path(__file__).resolve().parents[2]

def _find_harness() -> Path:
    """``../shared/tools/impair`` as :func:`tests.shared_data.shared_folder` finds it;
    ``SCENELINK_IMPAIR_DIR`` overrides it."""
    if os.environ.get("SCENELINK_IMPAIR_DIR"):
        return Path(os.environ["SCENELINK_IMPAIR_DIR"])
    return shared_folder("tools/impair")


IMPAIR_DIR = _find_harness()
CHROMIUM = os.environ.get("SCENELINK_CHROMIUM", "/usr/bin/chromium")

# A bad mobile link (5% loss each way, +100 ms, 500 kbit/s), and nothing at all.
BAD_SIGNAL = {"loss": 0.05, "delay_ms": 100, "rate_kbit": 500}
NO_SIGNAL = {"loss": 1.0}


def missing() -> str | None:
    """Why the impaired tests cannot run here, or None."""
    if not (IMPAIR_DIR / "nsb.py").exists():
        return f"the impairment harness is not at {IMPAIR_DIR} (../shared/tools/impair beside the clone)"
    if os.geteuid() != 0:
        return "the impairment harness needs root (moving interfaces between namespaces)"
    for tool in ("ip", "ethtool", "nsenter", "unshare"):
        if shutil.which(tool) is None:
            return f"the impairment harness needs {tool} (make test installs ethtool and iproute2)"
    if subprocess.run(["ip", "link", "show", "v1"], capture_output=True).returncode != 0:
        return "no v1 interface: run inside tests/netns-run"
    return None


def _harness() -> Any:
    spec = importlib.util.spec_from_file_location("scenelink_impair_nsb", IMPAIR_DIR / "nsb.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("scenelink_impair_nsb", module)
    spec.loader.exec_module(module)
    return module


@contextmanager
def caller_net() -> Iterator[Any]:
    """A ``CallerNet`` for one test; the test network is as it was afterwards."""
    net = _harness().CallerNet()
    try:
        yield net
    finally:
        net.clear()
        # The bridge first (it holds v1), then v1 home, then the namespaces.
        net.bridge.terminate()
        net.bridge.wait(timeout=5)
        net.m(f"ip link set v1 netns {os.getpid()}")
        subprocess.run(["ip", "link", "set", "v1", "up"], check=False)
        net.close()


def impair_each_way(net: Any, to_caller: dict, from_caller: dict) -> None:
    """Impair the two directions differently (the harness's ``set`` impairs both alike). In its
    control file ``a2b`` runs from the gateway's side to the caller and ``b2a`` back; the bridge
    reads the file each second, so see :func:`applied`."""
    # The control file of the harness module that made ``net`` (each load of the module makes a
    # working folder of its own).
    control = type(net).set.__globals__["CONTROL"]
    with open(control + ".tmp", "w") as fh:
        json.dump({"a2b": to_caller, "b2a": from_caller}, fh)
    os.replace(control + ".tmp", control)


def bridge_stats(net: Any) -> dict:
    """What the bridge last wrote of itself: ``cfg`` (the impairment it applies) and ``stats``
    (per direction: frames ``in``, ``lost``, ``fwd``...), about once a second."""
    return net.stats() or {}


def applied(net: Any, to_caller: dict, from_caller: dict) -> bool:
    return bridge_stats(net).get("cfg") == {"a2b": to_caller, "b2a": from_caller}


def lost_from_caller(net: Any) -> int:
    return int(((bridge_stats(net).get("stats") or {}).get("b2a") or {}).get("lost", 0))


def chromium_in(net: Any) -> Path:
    """A two-line wrapper that starts Chromium inside the caller's namespace (Playwright's
    ``executable_path``; Playwright talks to it over pipes, so the namespace does not matter)."""
    folder = Path(tempfile.mkdtemp(prefix="chromium-nsb-"))
    wrapper = folder / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{net.pid}/ns/net {CHROMIUM} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


@asynccontextmanager
async def impaired_browser(net: Any, args: list[str]) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    wrapper = chromium_in(net)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(wrapper), headless=True, args=args)
        try:
            yield browser
        finally:
            await browser.close()
            shutil.rmtree(wrapper.parent, ignore_errors=True)
