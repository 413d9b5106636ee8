"""CPU time and memory of one process, and of the whole machine, read from /proc (Linux only)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User plus system CPU time of ``pid`` and all its threads (or of its thread ``tid``), in seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # After the command name, field 3 (state) is index 0: utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in KiB, and the thread count, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass
class CpuWindow:
    """CPU use over a window, as a percentage of one core."""

    seconds: float
    target_pct: float  # the measured process (gateway or alternative)
    main_thread_pct: float  # its main thread alone: the asyncio event loop (Python code, mostly)
    loadgen_pct: float  # this benchmark process and its worker processes (callers and viewers)
    loadgen_main_pct: float  # this process's main thread (event loop)
    machine_busy_pct: float  # all processes, out of 100 * cores
    others_pct: float  # everything else on the machine: machine_busy - target - load generator
    cores: int
    rss_mib: float
    threads: int


class CpuMeter:
    """CPU of the process ``pid`` under test, of the load generator (this process and
    ``loadgen_pids``, its workers) and of the machine, over a window."""

    def __init__(self, pid: int, loadgen_pids: tuple[int, ...] = ()) -> None:
        self.pid = pid
        self.loadgen_pids = loadgen_pids

    def _read(self) -> tuple:
        me = os.getpid()
        loadgen = process_cpu_seconds(me) + sum(process_cpu_seconds(pid) for pid in self.loadgen_pids)
        return (time.monotonic(), process_cpu_seconds(self.pid), process_cpu_seconds(self.pid, self.pid),
                loadgen, process_cpu_seconds(me, me), machine_cpu())

    def start(self) -> tuple:
        return self._read()

    def stop(self, started: tuple) -> CpuWindow:
        t0, c0, m0, s0, l0, (b0, a0) = started
        t1, c1, m1, s1, l1, (b1, a1) = self._read()
        status = process_status(self.pid)
        elapsed = t1 - t0
        cores = os.cpu_count() or 1
        target, loadgen = 100 * (c1 - c0) / elapsed, 100 * (s1 - s0) / elapsed
        busy = 100 * cores * (b1 - b0) / max(a1 - a0, 1e-9)
        return CpuWindow(
            seconds=elapsed,
            target_pct=target,
            main_thread_pct=100 * (m1 - m0) / elapsed,
            loadgen_pct=loadgen,
            loadgen_main_pct=100 * (l1 - l0) / elapsed,
            machine_busy_pct=busy,
            others_pct=max(0.0, busy - target - loadgen),
            cores=cores,
            rss_mib=status.get("VmRSS", 0) / 1024,
            threads=status.get("Threads", 0),
        )


def udp_counters() -> dict[str, int]:
    """This network namespace's UDP counters (/proc/net/snmp): drops show as RcvbufErrors/InErrors."""
    with open("/proc/net/snmp") as fh:
        rows = [line.split() for line in fh if line.startswith("Udp:")]
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=True)}


def _udp_drops_by_inode() -> dict[str, int]:
    """The ``drops`` column of /proc/net/udp and udp6, by socket inode."""
    drops: dict[str, int] = {}
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    drops[fields[9]] = int(fields[-1])
        except OSError:
            continue
    return drops


def _socket_inodes(pid: int) -> list[str]:
    """The inodes of the sockets ``pid`` holds open (none if it has gone)."""
    inodes = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.append(target[8:-1])
    except OSError:
        pass
    return inodes


def udp_drops_by_pid(pids: list[int]) -> dict[int, int]:
    """Datagrams dropped so far on the UDP sockets each of ``pids`` holds (the ``drops`` column of
    /proc/net/udp, matched to the processes' file descriptors by inode)."""
    drops = _udp_drops_by_inode()
    return {pid: sum(drops.get(inode, 0) for inode in _socket_inodes(pid)) for pid in pids}


def udp_drops_by_socket(pid: int) -> dict[str, int]:
    """Datagrams dropped so far on each UDP socket ``pid`` holds, by inode (see :func:`udp_drops_by_pid`)."""
    drops = _udp_drops_by_inode()
    return {inode: drops[inode] for inode in _socket_inodes(pid) if inode in drops}


def drops_between(before: dict[str, int], after: dict[str, int]) -> int:
    """Datagrams dropped between two :func:`udp_drops_by_socket` readings, on sockets open at the
    second (a socket closed in between takes its count with it; one opened counts from zero)."""
    return sum(max(0, n - before.get(inode, 0)) for inode, n in after.items())
