"""Rate limits answer at once, given the time: token buckets, failure throttles, log quotas."""

import pytest

from gateway.limits import FailureThrottle, LogQuota, TokenBuckets, retry_after_header


def test_a_bucket_lets_a_burst_through_then_says_when_the_next_token_comes():
    buckets = TokenBuckets(rate=0.5, burst=3)
    assert [buckets.take("link", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("link", now=100.0) == pytest.approx(2.0)
    assert buckets.take("link", now=101.0) == pytest.approx(1.0), "half a token has come back"
    assert buckets.take("link", now=102.0) == 0.0
    assert buckets.take("other", now=102.0) == 0.0, "each key has its own bucket"


def test_a_bucket_refills_only_up_to_its_burst():
    buckets = TokenBuckets(rate=10, burst=2)
    buckets.take("k", now=0.0)
    assert [buckets.take("k", now=1000.0) for _ in range(3)][2] > 0


def test_the_bucket_table_is_bounded_and_forgets_the_least_recent():
    buckets = TokenBuckets(rate=1, burst=1, size=100)
    for i in range(1000):
        buckets.take(f"key{i}", now=0.0)
    assert len(buckets) == 100
    assert buckets.take("key999", now=0.0) > 0, "a recent key is remembered"


@pytest.mark.parametrize("rate,burst", [(0, 1), (1, 0), (-1, 5)])
def test_a_bucket_that_could_never_pass_anything_is_refused(rate, burst):
    with pytest.raises(ValueError):
        TokenBuckets(rate, burst)


def test_failures_are_free_up_to_a_point_then_refuse_for_a_doubling_time():
    throttle = FailureThrottle(free=5, window=600, base=0.25, max_delay=30)
    for _ in range(5):
        throttle.fail("a", now=10.0)
    assert throttle.retry_after("a", now=10.0) == 0.0
    throttle.fail("a", now=10.0)
    assert throttle.retry_after("a", now=10.0) == pytest.approx(0.5)
    assert throttle.retry_after("a", now=10.5) == 0.0, "the refusal runs from the latest failure"
    for _ in range(20):
        throttle.fail("a", now=11.0)
    assert throttle.retry_after("a", now=11.0) == pytest.approx(30.0), "capped"
    assert throttle.retry_after("b", now=11.0) == 0.0, "another address is not touched"


def test_failures_older_than_the_window_are_forgotten_and_success_clears_them():
    throttle = FailureThrottle(free=1, window=60)
    for _ in range(5):
        throttle.fail("a", now=0.0)
    assert throttle.retry_after("a", now=1.0) > 0
    assert throttle.retry_after("a", now=61.0) == 0.0
    throttle.fail("a", now=62.0)
    assert throttle.retry_after("a", now=62.0) == 0.0, "a new window began"
    for _ in range(5):
        throttle.fail("b", now=0.0)
    throttle.succeed("b")
    assert throttle.retry_after("b", now=0.0) == 0.0


def test_the_failure_table_is_bounded_under_a_flood_of_addresses():
    throttle = FailureThrottle(size=1000)
    for i in range(50_000):
        throttle.fail(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", now=0.0)
    assert len(throttle) == 1000


@pytest.mark.parametrize("seconds,header", [(0.01, "1"), (1.0, "1"), (1.2, "2"), (29.9, "30")])
def test_retry_after_is_whole_seconds_rounded_up(seconds, header):
    assert retry_after_header(seconds) == header


def test_a_log_quota_drops_a_flood_and_reports_how_much_it_dropped():
    quota = LogQuota(rate=1.0, burst=3)
    allowed = [quota.allow(now=0.0) for _ in range(1000)]
    assert allowed[:3] == [0, 0, 0] and allowed[3:] == [None] * 997
    assert quota.allow(now=1.0) == 997, "the next line allowed says how many were not written"
    assert quota.allow(now=2.0) == 0
