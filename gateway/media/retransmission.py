"""Which missing video packets a retransmission can still bring, and when to ask again.

aiortc 1.16 sends a NACK for a missing packet when the gap is first seen, and afterwards only
when some *new* packet goes missing (its NACK then lists every packet still missing). On a lossy
link a NACK or its retransmission is itself lost now and then (5 % each way: one round in ten),
and the packet is then asked for again only by chance, maybe a second later, maybe never. A
receiver that gives up on the hole too early pays far more: a keyframe over a slow, lossy link
takes longer to arrive than a second retransmission.

:class:`Retransmissions` keeps, for each missing packet, when it was first missed and when and how
often it was asked for, and learns the *turnaround* (NACK sent to retransmission received) from
packets that came after exactly one request (Karn's rule: a packet asked for twice cannot tell which
request it answers). From that:

- :meth:`Retransmissions.due` says which packets to ask for again: those whose last request has
  had its turnaround plus a margin without an answer;
- :meth:`Retransmissions.lost` says whether a packet is beyond help: its requests are used up (or
  the sender no longer keeps it) and the last one is overdue. Only then is a hole worth skipping.

Pure logic: sequence numbers and times in, decisions out; the caller sends the NACKs.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.utils import uint16_add


@dataclass(frozen=True)
class NackTuning:
    # The turnaround assumed until one has been measured, and the bounds of the learned one.
    initial_turnaround: float = 0.3
    min_turnaround: float = 0.05
    max_turnaround: float = 1.0
    # A request is unanswered after turnaround * factor + margin (a retransmission queues behind
    # video at the link's rate, so it is later than the bare round trip).
    overdue_factor: float = 1.5
    overdue_margin: float = 0.05
    # Requests per packet, the first (aiortc's own) included. Each round succeeds about 9 times in
    # 10 at 5 % loss each way, so four leave about one packet in ten thousand.
    max_requests: int = 4
    # How long after it was first missed a sender may still hold a packet: libwebrtc keeps what it
    # sent for at least max(1 s, 3 round trips); asking later than the larger of this and three
    # turnarounds is not worth waiting for.
    history_seconds: float = 1.5
    # The most packets tracked at once (the jitter buffer's size): a bound on memory.
    capacity: int = 512


@dataclass
class _Missing:
    first_missed: float
    asked_at: float
    requests: int


class Retransmissions:
    """The missing packets of one video stream and the requests made for them (see the module)."""

    def __init__(self, tuning: NackTuning = NackTuning()) -> None:
        self.tuning = tuning
        self.turnaround = tuning.initial_turnaround
        self._floor = tuning.min_turnaround
        self._highest: int | None = None
        self._missing: dict[int, _Missing] = {}
        # Counters: packets asked for again, and packets that came only after a repeated request.
        self.repeated_requests = 0
        self.filled_after_repeat = 0
        self.filled = 0

    def __contains__(self, seq: int) -> bool:
        return seq in self._missing

    @property
    def missing(self) -> list[int]:
        return sorted(self._missing, key=lambda s: uint16_add(s, -(self._highest or 0)))

    def observe_round_trip(self, seconds: float) -> None:
        """A round trip measured elsewhere (RTCP, ICE): the turnaround is never below it."""
        if seconds > 0:
            self._floor = min(self.tuning.max_turnaround, max(self.tuning.min_turnaround, seconds))
            self.turnaround = max(self.turnaround, self._floor)

    def overdue_after(self) -> float:
        """Seconds after a request when it counts as unanswered."""
        return self.turnaround * self.tuning.overdue_factor + self.tuning.overdue_margin

    def history(self) -> float:
        """How long after it was first missed a packet may still be retransmitted."""
        return max(self.tuning.history_seconds, 3 * self.turnaround)

    def seen(self, seq: int, now: float) -> None:
        """A packet arrived. Packets skipped over since the newest are missing, asked for now
        (aiortc's receiver sends that first NACK itself)."""
        if self._highest is None:
            self._highest = seq
            return
        ahead = uint16_add(seq, -self._highest)
        if ahead == 0:
            return
        if ahead < 0x8000:  # newer
            if ahead > self.tuning.capacity:
                self._missing.clear()  # a jump no buffer spans: the stream restarted
            else:
                for i in range(1, ahead):
                    self._missing[uint16_add(self._highest, i)] = _Missing(now, now, 1)
            self._highest = seq
            self._forget_older_than(uint16_add(seq, -self.tuning.capacity))
            return
        entry = self._missing.pop(seq, None)
        if entry is None:
            return  # a duplicate, or older than anything tracked
        self.filled += 1
        if entry.requests == 1:
            self._learn(now - entry.asked_at)
        else:
            self.filled_after_repeat += 1

    def forget(self, seq: int) -> None:
        """Stop asking for a packet (its hole was skipped)."""
        self._missing.pop(seq, None)

    def forget_before(self, seq: int) -> None:
        """Stop asking for anything older than ``seq`` (the buffer moved past it)."""
        self._forget_older_than(seq)

    def due(self, now: float) -> list[int]:
        """The packets to ask for again now; their requests are counted as made."""
        t = self.tuning
        wait = self.overdue_after()
        out: list[int] = []
        for seq, entry in self._missing.items():
            if entry.requests >= t.max_requests or now - entry.asked_at < wait:
                continue
            if now - entry.first_missed + self.turnaround > self.history():
                continue  # the answer would come after the sender has dropped the packet
            entry.asked_at = now
            entry.requests += 1
            out.append(seq)
        self.repeated_requests += len(out)
        return out

    def lost(self, seq: int, now: float) -> bool:
        """True when no retransmission of ``seq`` is to be expected any more."""
        entry = self._missing.get(seq)
        if entry is None:
            return False  # not known missing: the caller judges by its own clock
        if now - entry.asked_at < self.overdue_after():
            return False  # the last request may still be answered
        t = self.tuning
        return entry.requests >= t.max_requests or now - entry.first_missed + self.turnaround > self.history()

    def _learn(self, waited: float) -> None:
        t = self.tuning
        # Rises fast, falls slowly: one slow retransmission should raise the bar at once.
        weight = 0.5 if waited > self.turnaround else 0.1
        self.turnaround = min(t.max_turnaround, max(self._floor, self.turnaround + weight * (waited - self.turnaround)))

    def _forget_older_than(self, oldest: int) -> None:
        if self._highest is None:
            return
        horizon = uint16_add(self._highest, -oldest)
        for seq in [s for s in self._missing if uint16_add(self._highest, -s) > horizon]:
            del self._missing[seq]
