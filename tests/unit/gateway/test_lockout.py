"""Sign-in lockout: too many failures lock an account or an address; the lock refuses everything."""

from __future__ import annotations

import pytest

from gateway.lockout import Lockout


def test_the_tenth_failure_in_the_window_locks_for_the_duration() -> None:
    lockout = Lockout(limit=10, window=900, duration=600)
    for i in range(9):
        assert lockout.fail("account:ann", now=i) is False
        assert lockout.locked_for("account:ann", now=i) == 0.0
    assert lockout.fail("account:ann", now=9) is True
    assert lockout.locked_for("account:ann", now=9) == 600.0
    assert lockout.locked_for("account:ann", now=309) == 300.0
    assert lockout.locked_for("account:ann", now=609) == 0.0
    assert lockout.locked_for("address:192.0.2.1", now=9) == 0.0  # keys are separate


def test_failures_during_a_lock_neither_extend_it_nor_lock_again() -> None:
    lockout = Lockout(limit=3, window=900, duration=100)
    for i in range(3):
        lockout.fail("k", now=i)
    assert [lockout.fail("k", now=10 + i) for i in range(90)] == [False] * 90
    assert lockout.locked_for("k", now=50) == 52.0  # from the failure at t=2: locked until 102
    assert lockout.fail("k", now=103) is False  # after the lock, counting starts again


def test_failures_spread_beyond_the_window_do_not_lock() -> None:
    lockout = Lockout(limit=3, window=60, duration=100)
    assert [lockout.fail("k", now=t) for t in (0, 30, 61, 90)] == [False, False, False, False]
    assert lockout.fail("k", now=100) is True  # 61, 90 and 100 are within one window


def test_a_success_forgets_the_failures_and_unlock_lifts_a_lock() -> None:
    lockout = Lockout(limit=3, window=900, duration=100)
    lockout.fail("k", now=0)
    lockout.fail("k", now=1)
    lockout.succeed("k")
    assert lockout.fail("k", now=2) is False and lockout.fail("k", now=3) is False
    assert lockout.fail("k", now=4) is True
    assert lockout.unlock("k") is True and lockout.locked_for("k", now=5) == 0.0
    assert lockout.unlock("k") is False


def test_the_table_is_bounded() -> None:
    lockout = Lockout(limit=3, window=900, duration=100, size=100)
    for i in range(1000):
        lockout.fail(f"address:{i}", now=0)
    assert len(lockout) == 100


@pytest.mark.parametrize("limit, window, duration", [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_nonsense_settings_are_refused(limit: int, window: float, duration: float) -> None:
    with pytest.raises(ValueError):
        Lockout(limit, window, duration)
