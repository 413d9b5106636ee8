"""TURN credentials that expire: the "TURN REST API" construction coturn checks with ``use-auth-secret``.

The gateway and the TURN server share one secret and never exchange a password. For each caller
or operator the gateway mints a username ``<expiry>:<opaque id>`` (the expiry in Unix seconds)
and a credential, base64(HMAC-SHA1(secret, username)). coturn recomputes the credential from the
username with every secret it holds and refuses a username whose expiry has passed, so a
credential needs no state on either side and cannot be used after its expiry; changing the secret
revokes every credential minted with the old one (docs/deployment.md, "TURN").

Pure functions only: no clock, no randomness, no I/O. The caller passes ``now`` and the opaque id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field

# A credential valid for less than this is not worth handing out: the browser needs a moment
# to allocate its relay after receiving it.
MIN_LIFETIME_SECONDS = 30

# What may follow the expiry in a username: coturn splits on the first ":" and logs the rest, so
# the id is kept to characters that need no quoting anywhere (and carries nothing secret).
_OPAQUE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class TurnCredentialError(ValueError):
    """A credential cannot be minted as asked (no lifetime left, a malformed id, no secret)."""


@dataclass(frozen=True)
class TurnCredential:
    """One time-limited TURN username and password, as the browser's RTCIceServer takes them."""

    username: str
    credential: str = field(repr=False)
    expires_at: int  # Unix seconds: coturn refuses the username from then on


def credential_for(secret: bytes, username: str) -> str:
    """The password coturn expects for ``username``: base64(HMAC-SHA1(secret, username))."""
    if not secret:
        raise TurnCredentialError("the TURN shared secret is empty")
    digest = hmac.new(secret, username.encode("ascii"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def credential_expiry(now: float, lifetime_seconds: int, not_after: float | None = None) -> int:
    """When a credential minted at ``now`` expires: ``lifetime_seconds`` on, never after ``not_after``
    (the end of the link or the sign-in it is for). Raises when less than a usable moment is left."""
    if lifetime_seconds < MIN_LIFETIME_SECONDS:
        raise TurnCredentialError(f"a TURN credential must live at least {MIN_LIFETIME_SECONDS} s")
    expires = int(now) + lifetime_seconds
    if not_after is not None:
        expires = min(expires, int(not_after))
    if expires - now < MIN_LIFETIME_SECONDS:
        raise TurnCredentialError("what the credential is for ends too soon to be worth relaying")
    return expires


def mint(secret: bytes, opaque_id: str, expires_at: int) -> TurnCredential:
    """A credential for ``opaque_id`` that coturn accepts until ``expires_at`` (Unix seconds)."""
    if not _OPAQUE_ID.fullmatch(opaque_id):
        raise TurnCredentialError("a TURN username's id must be 1 to 64 letters, digits, '-', '_' or '.'")
    username = f"{int(expires_at)}:{opaque_id}"
    return TurnCredential(username=username, credential=credential_for(secret, username), expires_at=int(expires_at))


def username_expiry(username: str) -> int | None:
    """The expiry a REST-API username carries, as coturn reads it; None when it has none."""
    head, sep, _ = username.partition(":")
    return int(head) if sep and head.isdigit() else None
