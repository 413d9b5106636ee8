"""A caller's network that lets through nothing but a few (protocol, address, port) flows.

A namespace of its own (``unshare --net``, held by a sleeping process) joined to the test network
by a veth pair: the caller is 10.99.4.2, the test network's side 10.99.4.1 with any extra
addresses asked for (where coturn listens). nftables in the caller's namespace drops every packet
out but the allowed flows, and every packet in but replies: with TCP flows alone, no UDP at all,
so WebRTC can only go through a TURN server over TCP or TLS.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CALLER = "10.99.4.2"
NEAR = "10.99.4.1"


def missing() -> str | None:
    """Why a firewalled caller cannot be made here, or None."""
    if os.geteuid() != 0:
        return "a firewalled caller needs root (namespaces and nftables)"
    for tool in ("ip", "nsenter", "unshare", "nft"):
        if shutil.which(tool) is None:
            return f"a firewalled caller needs {tool} (make browsers installs iproute2 and nftables)"
    return None


@dataclass
class CallerNetwork:
    pid: int

    def run(self, *command: str, **kwargs: Any) -> subprocess.CompletedProcess:
        """Run ``command`` inside the caller's namespace."""
        return subprocess.run(["nsenter", f"--net=/proc/{self.pid}/ns/net", *command], **kwargs)

    def allow(self, flows: list[tuple[str, str, int | None]]) -> None:
        """Let out only ``flows``: ("tcp" or "udp" or "any", address, port or None), replacing
        the rules before."""
        lines = []
        for proto, host, port in flows:
            match = f"ip daddr {host}" + ("" if proto == "any" else f" meta l4proto {proto}")
            if port is not None:
                match += f" th dport {port}"
            lines.append(f"    {match} accept")
        rules = "flush ruleset\n" + RULES.format(allow="\n".join(lines))
        done = self.run("nft", "-f", "-", input=rules, text=True, capture_output=True)
        assert done.returncode == 0, f"nft refused the caller's rules: {done.stderr}"


def _sh(command: str) -> None:
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)


RULES = """table inet caller {{
  chain out {{
    type filter hook output priority 0; policy drop;
    oif "lo" accept
{allow}
  }}
  chain in {{
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
  }}
}}
"""


@contextmanager
def firewalled_caller(allowed_tcp: list[tuple[str, int]], extra_near: tuple[str, ...] = ()) -> Iterator[CallerNetwork]:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    try:
        net = CallerNetwork(holder.pid)
        # unshare has forked the sleeper into its namespace by the time it answers.
        for _ in range(100):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            subprocess.run(["sleep", "0.02"])
        _sh(f"ip link add vc0 type veth peer name vc1 netns {holder.pid}")
        _sh(f"ip addr add {NEAR}/24 dev vc0 && ip link set vc0 up")
        for address in extra_near:
            _sh(f"ip addr add {address}/24 dev vc0")
        inside = f"nsenter --net=/proc/{holder.pid}/ns/net"
        _sh(f"{inside} ip link set lo up && {inside} ip addr add {CALLER}/24 dev vc1 && {inside} ip link set vc1 up"
            f" && {inside} ip route add default via {NEAR} dev vc1")
        net.allow([("tcp", host, port) for host, port in allowed_tcp])
        yield net
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=5)
        subprocess.run(["ip", "link", "del", "vc0"], capture_output=True)  # gone with its peer, normally


@asynccontextmanager
async def browser_in(net: CallerNetwork, args: list[str]) -> AsyncIterator[Any]:
    """Chromium inside the caller's namespace (Playwright talks to it over pipes)."""
    from playwright.async_api import async_playwright

    from .conftest import CHROMIUM

    folder = Path(tempfile.mkdtemp(prefix="chromium-fw-"))
    wrapper = folder / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{net.pid}/ns/net {CHROMIUM} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(wrapper), headless=True, args=args)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
