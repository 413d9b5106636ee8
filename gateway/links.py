"""Capability links: the one-time URL a caller receives, and the states it moves through.

A link's token is the caller's only credential. It carries 192 random bits, travels only in the
SMS, and the record keeps just its SHA-256, so a copy of the database opens no session.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

TOKEN_BYTES = 24


class LinkState(StrEnum):
    CREATED = "created"
    SENT = "sent"
    DELIVERED = "delivered"  # the SMS provider's receipt says the text reached the phone
    FAILED = "failed"
    OPENED = "opened"
    CONSENTED = "consented"
    STREAMING = "streaming"
    ENDED = "ended"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REFUSED = "refused"  # another device tried to open the link (a note: the link carries on)


FINAL = frozenset({LinkState.ENDED, LinkState.EXPIRED, LinkState.REVOKED})

# What a link asks the caller to share: camera and location, or location alone (for callers who
# cannot or should not show video). The page never asks for the camera on a "location" link.
VIDEO = "video"
LOCATION_ONLY = "location"
MODES = (VIDEO, LOCATION_ONLY)

# Which states a link may move to from each state. Reopening the page (OPENED again) is allowed
# while the link is live so that a caller who reloads can carry on.
_NEXT: dict[LinkState, frozenset[LinkState]] = {
    LinkState.CREATED: frozenset({LinkState.SENT, LinkState.DELIVERED, LinkState.FAILED, LinkState.OPENED}),
    LinkState.SENT: frozenset({LinkState.DELIVERED, LinkState.OPENED, LinkState.FAILED}),
    LinkState.DELIVERED: frozenset({LinkState.OPENED, LinkState.FAILED}),
    LinkState.FAILED: frozenset({LinkState.SENT, LinkState.DELIVERED, LinkState.OPENED}),
    LinkState.OPENED: frozenset({LinkState.OPENED, LinkState.CONSENTED}),
    LinkState.CONSENTED: frozenset({LinkState.OPENED, LinkState.CONSENTED, LinkState.STREAMING}),
    LinkState.STREAMING: frozenset({LinkState.OPENED, LinkState.CONSENTED, LinkState.STREAMING}),
}


class LinkUnusable(Exception):
    """The link cannot be used. ``reason`` is for the log and the handler, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    """Cheap shape check before touching the database (token_urlsafe(24) is 32 characters)."""
    return len(token) == 32 and all(c.isalnum() or c in "-_" for c in token)


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"


# A capability in a path: a caller's link (/c/<token>) or an embed (/embed/<token>).
_CAPABILITY_PATH = re.compile(r"/(c|embed)/([A-Za-z0-9_-]{8,})")
MASK = "*"  # what replaces all but the first four characters of a masked token, one for one


def mask_tokens(text: str) -> str:
    """``text`` with every link or embed token in a path masked after its first four characters.

    A token is a credential: it appears in full only in the SMS as sent and in the answer to the
    operator who created it. Everywhere else (the record, events, the outbox, the access log) it
    is masked, keeping enough for a person to tell two links apart and far too little to use.
    The mask keeps the text's length and alphabet, so it counts as the same SMS parts as sent.
    """
    return _CAPABILITY_PATH.sub(lambda m: f"/{m.group(1)}/{m.group(2)[:4]}{MASK * (len(m.group(2)) - 4)}", text)


def expiry(now: datetime, ttl_seconds: int) -> datetime:
    return now + timedelta(seconds=ttl_seconds)


# States that are also worth recording when the link has moved past them: a delivery receipt can
# arrive after the caller opened the link, and another device's attempt changes nothing for the
# device that holds the link. They are noted in the link's history without changing its state.
NOTES = frozenset({LinkState.DELIVERED, LinkState.REFUSED})


def can_move(current: LinkState, new: LinkState) -> bool:
    if new in FINAL:
        return current not in FINAL
    return new in _NEXT.get(current, frozenset())


def is_note(current: LinkState, new: LinkState) -> bool:
    """True when ``new`` is only to be noted in the history: it does not become the link's state."""
    return new in NOTES and not can_move(current, new)


def session_over(opened_at: datetime | None, now: datetime, max_seconds: int) -> bool:
    """True once a link opened at ``opened_at`` has run for its session's maximum length."""
    return opened_at is not None and now >= opened_at + timedelta(seconds=max_seconds)


def check_usable(state: LinkState, expires_at: datetime, opened: bool, now: datetime) -> None:
    """Raise :class:`LinkUnusable` unless a caller may use a link in this state now.

    The expiry applies to a link that was never opened; once opened, the session's own maximum
    length governs.
    """
    if state in FINAL:
        raise LinkUnusable(state.value)
    if not opened and now >= expires_at:
        raise LinkUnusable("expired")
