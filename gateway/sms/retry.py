"""Retrying a provider: back-off on errors worth retrying, a timeout per attempt, and a deadline.

Every provider is wrapped here, so the policy lives in one place and each provider only has to say
whether an error is worth retrying (``SmsError.retryable``). The deadline bounds the whole send, so
a provider that is down reaches the handler as a reason within seconds, not as a spinner.

A retried timeout may, rarely, text the caller twice (the provider may have taken the first
request before the answer was lost). Both texts carry the same link, which is the lesser harm.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ConfigError
from .base import SmsError, SmsResult, SmsSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    first_delay: float = 0.5  # then doubled before each further attempt: 0.5 s, 1 s, 2 s, ...
    attempt_timeout: float = 4.0
    deadline: float = 10.0  # the whole send, retries and waits included

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (counting from 1)."""
        return self.first_delay * 2 ** (attempt - 1)

    @classmethod
    def from_table(cls, sms: Mapping[str, Any]) -> RetryPolicy:
        """Read from the ``[sms]`` table: attempts, retry_delay_seconds, attempt_timeout_seconds,
        give_up_after_seconds."""
        default = cls()
        policy = cls(
            attempts=_number(sms, "attempts", default.attempts, int),
            first_delay=_number(sms, "retry_delay_seconds", default.first_delay, float),
            attempt_timeout=_number(sms, "attempt_timeout_seconds", default.attempt_timeout, float),
            deadline=_number(sms, "give_up_after_seconds", default.deadline, float),
        )
        if policy.attempts < 1:
            raise ConfigError("sms.attempts must be at least 1")
        if policy.first_delay < 0:
            raise ConfigError("sms.retry_delay_seconds must not be negative")
        if policy.attempt_timeout <= 0 or policy.deadline <= 0:
            raise ConfigError("sms.attempt_timeout_seconds and sms.give_up_after_seconds must be more than 0")
        return policy


class RetryingSender:
    """An :class:`SmsSender` that sends through ``inner`` under a :class:`RetryPolicy`."""

    def __init__(
        self,
        inner: SmsSender,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self._sleep = sleep
        self._clock = clock

    @property
    def name(self) -> str:
        return self.inner.name

    async def send(self, to: str, body: str) -> SmsResult:
        policy = self.policy
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            left = policy.deadline - (self._clock() - started)
            timeout = max(min(policy.attempt_timeout, left), 0.05)
            try:
                async with asyncio.timeout(timeout):
                    return await self.inner.send(to, body)
            except TimeoutError:
                label = getattr(self.inner, "label", self.name)
                error = SmsError(f"no answer from {label} within {timeout:.3g} s", retryable=True)
            except SmsError as exc:
                error = exc
            if not error.retryable:
                raise error
            delay = policy.delay(attempt)
            out_of_time = self._clock() - started + delay >= policy.deadline
            if attempt >= policy.attempts or out_of_time:
                tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
                raise SmsError(f"{error.reason}; gave up after {tries}", retryable=True) from error
            log.warning(
                "SMS through %s failed (%s); attempt %d of %d in %.3g s",
                self.name, error.reason, attempt + 1, policy.attempts, delay,
            )
            await self._sleep(delay)

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


def _number(table: Mapping[str, Any], key: str, default: float, kind: type) -> Any:
    value = table.get(key, default)
    try:
        if isinstance(value, bool):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"sms.{key} must be a number, not {value!r}") from None
