"""The retry policy on its own, around a scripted sender and a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config import ConfigError
from gateway.sms import SmsError, SmsResult
from gateway.sms.retry import RetryingSender, RetryPolicy


class Scripted:
    name = "scripted"

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    async def send(self, to, body):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if outcome == "hang":
            await asyncio.sleep(10)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Clock:
    def __init__(self):
        self.now = 0.0
        self.waits = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.waits.append(seconds)
        self.now += seconds


OK = SmsResult("ref-1", "sent")
BUSY = SmsError("busy", retryable=True)


def retrying(inner, clock=None, **policy):
    clock = clock or Clock()
    return RetryingSender(inner, RetryPolicy(**policy), sleep=clock.sleep, clock=clock), clock


async def test_retryable_errors_are_retried_with_doubling_waits():
    inner = Scripted(BUSY, BUSY, OK)
    sender, clock = retrying(inner)
    assert await sender.send("+447400123456", "hi") == OK
    assert inner.calls == 3 and clock.waits == [0.5, 1.0]


async def test_a_refusal_is_not_retried():
    inner = Scripted(SmsError("not a mobile"), OK)
    sender, clock = retrying(inner)
    with pytest.raises(SmsError, match="^not a mobile$"):
        await sender.send("+447400123456", "hi")
    assert inner.calls == 1 and clock.waits == []


async def test_it_gives_up_after_the_attempts_with_the_last_reason():
    inner = Scripted(BUSY, BUSY, SmsError("still down", retryable=True))
    sender, _ = retrying(inner)
    with pytest.raises(SmsError) as caught:
        await sender.send("+447400123456", "hi")
    assert caught.value.reason == "still down; gave up after 3 attempts" and inner.calls == 3


async def test_it_stops_early_rather_than_wait_past_the_deadline():
    inner = Scripted(BUSY, BUSY, OK)
    sender, clock = retrying(inner, first_delay=4, deadline=6)
    with pytest.raises(SmsError, match=r"; gave up after 2 attempts$"):
        await sender.send("+447400123456", "hi")
    assert inner.calls == 2 and clock.waits == [4], "a second wait of 8 s would pass the 6 s deadline"


async def test_each_attempt_has_a_timeout():
    inner = Scripted("hang", OK)
    sender = RetryingSender(inner, RetryPolicy(first_delay=0, attempt_timeout=0.05))
    assert await asyncio.wait_for(sender.send("+447400123456", "hi"), 2) == OK
    assert inner.calls == 2


@pytest.mark.parametrize("table,setting", [
    ({"attempts": 0}, "sms.attempts"),
    ({"attempts": "three"}, "sms.attempts"),
    ({"retry_delay_seconds": -1}, "sms.retry_delay_seconds"),
    ({"attempt_timeout_seconds": 0}, "sms.attempt_timeout_seconds"),
])
def test_bad_policy_settings_are_named(table, setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        RetryPolicy.from_table(table)


def test_the_policy_reads_the_sms_table():
    policy = RetryPolicy.from_table({"attempts": 5, "retry_delay_seconds": 0.1, "attempt_timeout_seconds": 2,
                                     "give_up_after_seconds": 8})
    assert policy == RetryPolicy(attempts=5, first_delay=0.1, attempt_timeout=2.0, deadline=8.0)
