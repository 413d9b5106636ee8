"""Signing and checking webhook deliveries, and the retry schedule. Pure: no I/O.

A delivery is signed with HMAC-SHA256 under the endpoint's shared secret, over the timestamp, a
full stop and the exact body bytes::

    X-Scenelink-Timestamp: 1795735262
    X-Scenelink-Signature: v1=<hex of HMAC-SHA256(secret, b"1795735262." + body)>

A receiver recomputes the HMAC over the bytes it received (before parsing the JSON), compares in
constant time, refuses a timestamp more than ``tolerance`` seconds from its own clock (so a captured
delivery cannot be replayed later) and drops a ``X-Scenelink-Delivery`` id it has already seen (so a
retry of a delivery it did get is not acted on twice). ``verify`` below does exactly that and is
what the tests' receiver uses.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Scenelink-Timestamp"
SIGNATURE_HEADER = "X-Scenelink-Signature"
DELIVERY_HEADER = "X-Scenelink-Delivery"
EVENT_HEADER = "X-Scenelink-Event"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A delivery whose signature or timestamp does not check out."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Scenelink-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(
    secret: str, timestamp_header: str | None, signature_header: str | None, body: bytes,
    now: float | None = None, tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check a delivery as a receiver should; returns its timestamp or raises ``SignatureError``."""
    if not timestamp_header or not signature_header:
        raise SignatureError("missing timestamp or signature header")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError("the timestamp is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("the timestamp is too far from now: a replay, or a clock that is wrong")
    expected = sign(secret, timestamp, body)
    # The header may carry several signatures (e.g. during a secret rotation): any may match.
    offered = [part.strip() for part in signature_header.split(",")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureError("the signature does not match")
    return timestamp


def backoff(attempts: int, first: float, most: float) -> float:
    """Seconds to wait before the next try after ``attempts`` failed ones: doubling, capped."""
    if attempts <= 0:
        return 0.0
    return float(min(most, first * 2 ** (attempts - 1)))
