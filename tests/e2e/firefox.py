"""A caller's phone played by Firefox ESR, for the end-to-end tests.

Playwright drives only its own patched Firefox, so Debian's ``firefox-esr`` is driven over
WebDriver BiDi by puppeteer-core in a Node script, ``firefox_caller.mjs`` beside this file, which
reads one JSON command a line and answers each with one JSON line. :class:`FirefoxCaller` is the
one owner of that process and of the browser it starts. The driver runs in a process group of its
own and Firefox leads another (puppeteer starts it so); closing ends both groups, asking first and
killing what is left, so no Firefox outlives its test, even when the driver died before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..strict import requires

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("firefox_caller.mjs")
# Debian's Firefox ESR (`make browsers` installs it); SCENELINK_FIREFOX names another build.
FIREFOX = os.environ.get("SCENELINK_FIREFOX") or shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
NODE = shutil.which("node")
PUPPETEER = ROOT / "web_client" / "node_modules" / "puppeteer-core" / "package.json"
START_SECONDS = 40
COMMAND_SECONDS = 20

NEEDS_FIREFOX = [
    requires(Path(FIREFOX).exists(), f"Firefox ESR was not found ({FIREFOX}; `make browsers` installs firefox-esr)"),
    requires(NODE is not None, "Node.js was not found: it runs puppeteer-core, which drives Firefox"),
    requires(PUPPETEER.exists(), "puppeteer-core is not installed: `make web` installs the pages' npm packages"),
]

State = dict[str, Any]


class FirefoxFailed(AssertionError):
    """The driver or the browser failed; carries what the driver wrote on stderr."""


class FirefoxCaller:
    """One headless Firefox ESR with a fresh profile, its position fixed at ``position``
    (``latitude``, ``longitude``, ``accuracy`` in metres) and its fake camera on.

    Use as ``async with FirefoxCaller(...) as phone`` (or :meth:`start` and :meth:`close`).
    ``problems`` collects uncaught page errors and Content Security Policy violations.
    """

    def __init__(self, workdir: Path, position: dict[str, float]) -> None:
        self.workdir = workdir
        self.position = position
        self.problems: list[str] = []
        self.version = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ready: asyncio.Future[str] | None = None
        self._next_id = 0
        self._browser_pid: int | None = None
        self._stderr_path = workdir / "driver.log"

    async def __aenter__(self) -> FirefoxCaller:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Launch the driver, which launches the browser; return at once. The browser starts
        while the test goes on (signing a handler in, say): the first command waits for it."""
        profile = self.workdir / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        assert NODE is not None
        env = dict(os.environ, SCENELINK_FIREFOX=FIREFOX)
        with open(self._stderr_path, "wb") as stderr:
            self._proc = await asyncio.create_subprocess_exec(
                NODE, str(DRIVER), str(profile), json.dumps(self.position),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                env=env, cwd=ROOT, start_new_session=True,  # a group of its own: Firefox ends with it
                limit=4 * 1024 * 1024,
            )
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    async def ready(self) -> str:
        """Wait until the browser is up; its version."""
        assert self._ready is not None, "not started"
        if not self.version:
            try:
                self.version = await asyncio.wait_for(asyncio.shield(self._ready), START_SECONDS)
            except TimeoutError:
                raise FirefoxFailed(f"Firefox did not start within {START_SECONDS} s\n{self.log_tail()}") from None
        return self.version

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not the driver's: nothing else writes to its stdout, but be safe
            if message.get("event") == "ready":
                self._browser_pid = message.get("pid")
                if self._ready and not self._ready.done():
                    self._ready.set_result(message.get("version", ""))
            elif message.get("event") == "problem":
                self.problems.append(f"firefox caller: {message.get('text')}")
            elif (future := self._pending.pop(message.get("id"), None)) is not None and not future.done():
                if message.get("ok"):
                    future.set_result(message.get("result"))
                else:
                    future.set_exception(FirefoxFailed(f"{message.get('error')}"))
        # The driver exited: whatever was still asked of it will not be answered.
        gone = FirefoxFailed(f"the Firefox driver exited\n{self.log_tail()}")
        if self._ready and not self._ready.done():
            self._ready.set_exception(gone)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(gone)
        self._pending.clear()

    async def command(self, cmd: str, timeout: float = COMMAND_SECONDS, **args: Any) -> Any:
        """Send one command (see firefox_caller.mjs) and return its result."""
        await self.ready()
        assert self._proc is not None and self._proc.stdin is not None
        if self._proc.returncode is not None:
            raise FirefoxFailed(f"the Firefox driver has exited\n{self.log_tail()}")
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self._proc.stdin.write((json.dumps({"id": self._next_id, "cmd": cmd, **args}) + "\n").encode())
        await self._proc.stdin.drain()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise FirefoxFailed(f"Firefox did not answer {cmd!r} within {timeout} s\n{self.log_tail()}") from None

    async def open(self, url: str) -> int | None:
        """Load ``url``; the HTTP status of the page."""
        return (await self.command("open", url=url))["status"]

    async def click(self, selector: str) -> None:
        await self.command("click", selector=selector)

    async def state(self) -> State:
        """What the caller sees and what the browser sends (see firefox_caller.mjs)."""
        return await self.command("state")

    async def until(self, check: Callable[[State], Any], what: str, timeout: float = 15) -> State:
        """Poll :meth:`state` until ``check(state)`` is true; the state that passed."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.state()
            if check(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"Firefox caller: {what} did not happen within {timeout} s; last state: {state}")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        """End the browser and the driver, and anything left of their process groups."""
        proc = self._proc
        if proc is None:
            return
        # Firefox is killed, not asked to quit: its profile is thrown away, and a graceful exit
        # takes it 2 to 5 s here. puppeteer starts it as the leader of a process group of its own.
        if self._browser_pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._browser_pid, signal.SIGKILL)
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()  # the driver exits at the end of its input
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        # Killing is asynchronous: return once the browser's group is gone.
        if self._browser_pid:
            await _end_group(self._browser_pid)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ready is not None and self._ready.done() and not self._ready.cancelled():
            self._ready.exception()  # a browser that never came up was reported by whoever waited

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self._stderr_path.read_text(errors="replace")
        except OSError:
            return "(no driver log)"
        return "driver stderr:\n" + "\n".join(text.splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _end_group(pgid: int, grace: float = 5.0) -> None:
    """Wait up to ``grace`` seconds for process group ``pgid`` to exit, then kill what is left."""
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        while _group_alive(pgid) and time.monotonic() < deadline + 5:
            await asyncio.sleep(0.1)
