"""A long-lived stream's watcher ends its work once the credential is no longer valid."""

from __future__ import annotations

import asyncio

import pytest

from gateway.web import revocation


async def test_the_work_ends_when_the_check_says_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation, "RECHECK_SECONDS", 0.01)
    checks = 0

    async def still_valid() -> bool:
        nonlocal checks
        checks += 1
        return checks < 5

    stopped = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    assert await asyncio.wait_for(revocation.run_until_revoked(forever(), still_valid), 5) is True
    assert checks == 5 and stopped.is_set()


async def test_work_that_ends_by_itself_is_not_revoked() -> None:
    async def never_asked() -> bool:
        raise AssertionError("the check runs only every few seconds")

    async def short() -> None:
        return None

    assert await revocation.run_until_revoked(short(), never_asked) is False
