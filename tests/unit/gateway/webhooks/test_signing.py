"""Webhook signatures as a receiver checks them, and the retry schedule.

The expected signature is computed here with hmac directly from the documented rule
(HMAC-SHA256 over timestamp + "." + body), not with the module's own ``sign``.
"""

import hashlib
import hmac

import pytest

from gateway.webhooks.signing import SignatureError, backoff, sign, verify

SECRET = "a shared secret of some length"
BODY = b'{"delivery_id":"dlv_1","type":"fix"}'
NOW = 1_795_735_262


def expected(timestamp: int, body: bytes) -> str:
    return "v1=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    assert sign(SECRET, NOW, BODY) == expected(NOW, BODY)


def test_a_good_delivery_verifies():
    assert verify(SECRET, str(NOW), expected(NOW, BODY), BODY, now=NOW + 10) == NOW


def test_any_of_several_signatures_may_match_during_a_secret_rotation():
    assert verify(SECRET, str(NOW), "v1=00ff, " + expected(NOW, BODY), BODY, now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "now", "message"),
    [
        (str(NOW), expected(NOW, BODY), BODY + b" ", NOW, "does not match"),  # body altered
        (str(NOW + 1), expected(NOW, BODY), BODY, NOW, "does not match"),  # timestamp altered
        (str(NOW), expected(NOW, BODY), BODY, NOW + 301, "too far"),  # replayed six minutes later
        (str(NOW), expected(NOW, BODY), BODY, NOW - 301, "too far"),
        ("yesterday", expected(NOW, BODY), BODY, NOW, "whole number"),
        (None, expected(NOW, BODY), BODY, NOW, "missing"),
        (str(NOW), None, BODY, NOW, "missing"),
    ],
)
def test_tampered_replayed_or_unsigned_deliveries_are_refused(timestamp, signature, body, now, message):
    with pytest.raises(SignatureError, match=message):
        verify(SECRET, timestamp, signature, body, now=now)


def test_waits_double_from_the_first_and_stop_growing_at_the_cap():
    assert [backoff(n, 2, 600) for n in range(0, 12)] == [0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
