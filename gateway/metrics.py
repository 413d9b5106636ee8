"""What a node is doing, for Prometheus: live sessions, viewers, fixes, latencies, SMS, the loop.

Counters and latencies follow the event bus (as a listener, on the node that published each
event), so no other part of the gateway is instrumented by hand; gauges are read from the parts
that own them when Prometheus scrapes. Each application has its own registry, so several gateways
in one process (as in tests) never mix their figures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .events import Event, EventBus
from .tasks import TaskSet

log = logging.getLogger(__name__)

LAG_INTERVAL = 0.5
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _age_seconds(stamp: object, now: float) -> float | None:
    """Seconds from an ISO 8601 time (as events carry them) to ``now``; None when unreadable."""
    if not isinstance(stamp, str):
        return None
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return max(0.0, now - then)


def udp_drops(pid: int | str = "self", proc: str = "/proc") -> int | None:
    """Datagrams the kernel dropped on this process's UDP sockets (its media), or None if unreadable.

    ``/proc/net/udp`` lists every socket's drop count by inode; the process's descriptors say
    which inodes are its own.
    """
    try:
        inodes = set()
        for fd in os.listdir(f"{proc}/{pid}/fd"):
            try:
                target = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        total = 0
        for table in ("udp", "udp6"):
            try:
                with open(f"{proc}/{pid}/net/{table}") as fh:
                    lines = fh.read().splitlines()[1:]
            except FileNotFoundError:
                continue
            for line in lines:
                fields = line.split()
                if len(fields) >= 13 and fields[9] in inodes:
                    total += int(fields[12])
        return total
    except OSError:
        return None


class _Gauges(Collector):
    """Gauges read at scrape time from the parts that own them."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, float | None]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        for name, help_text, value in self._read():
            if value is not None:
                family = GaugeMetricFamily(name, help_text)
                family.add_metric([], value)
                yield family


class Metrics:
    """A node's metrics. :meth:`start` follows the bus and measures the loop; :meth:`render` scrapes."""

    def __init__(self, events: EventBus, gauges: Callable[[], Iterable[tuple[str, str, float | None]]]) -> None:
        self.registry = CollectorRegistry()
        self.events = events
        self.fixes = Counter("scenelink_fixes", "Fixes recorded on this node", registry=self.registry)
        self.fix_latency = Histogram(
            "scenelink_fix_to_event_seconds", "From a fix's arrival at the gateway to its event",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.snapshots = Counter(
            "scenelink_snapshots", "Snapshots stored, by reason", ["reason"], registry=self.registry
        )
        self.snapshot_latency = Histogram(
            "scenelink_snapshot_seconds", "From the snapshot's frame to the stored snapshot",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.sms = Counter("scenelink_sms", "Text messages by provider and outcome", ["provider", "status"],
                           registry=self.registry)
        self.loop_lag = Histogram(
            "scenelink_event_loop_lag_seconds", "How late the event loop ran a timer",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.last_lag = 0.0
        self.registry.register(_Gauges(self._gauges(gauges)))
        self._tasks = TaskSet("metrics")

    def _gauges(self, parts: Callable[[], Iterable[tuple[str, str, float | None]]]):
        def read() -> Iterator[tuple[str, str, float | None]]:
            yield from parts()
            yield "scenelink_event_loop_lag_last_seconds", "The loop's lateness at the last measure", self.last_lag
            drops = udp_drops()
            yield "scenelink_udp_drops", "Datagrams the kernel dropped on this node's UDP sockets", (
                float(drops) if drops is not None else None
            )

        return read

    def start(self) -> None:
        self.events.add_listener(self.observe)
        self._tasks.spawn(self._measure_lag())

    async def close(self) -> None:
        self.events.remove_listener(self.observe)
        await self._tasks.cancel()

    def observe(self, event: Event, now: float | None = None) -> None:
        """Count one event published on this node (called by the bus, synchronously)."""
        now = time.time() if now is None else now
        data = event.data
        if event.type == "fix":
            self.fixes.inc()
            age = _age_seconds(data.get("received_at"), now)
            if age is not None:
                self.fix_latency.observe(age)
        elif event.type == "snapshot":
            self.snapshots.labels(str(data.get("reason", "unknown"))).inc()
            age = _age_seconds(data.get("taken_at"), now)
            if age is not None:
                self.snapshot_latency.observe(age)
        elif event.type in ("sms.sent", "sms.status"):
            self.sms.labels(str(data.get("provider", "unknown")), str(data.get("status", "unknown"))).inc()

    async def _measure_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = loop.time() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.last_lag = max(0.0, loop.time() - planned)
            self.loop_lag.observe(self.last_lag)

    def render(self) -> bytes:
        return generate_latest(self.registry)
