"""The ICE servers each peer is given: the configured STUN servers, and TURN with fresh credentials.

Browsers (a caller's page, an operator's console) get ``[turn] urls`` with a credential minted
for them alone, which expires after ``turn.credential_seconds`` and never after the link or
sign-in it was minted for; they ask again before a new connection once it is close to expiry.
The gateway's own peer connections get ``[turn] gateway_urls`` with credentials of their own.
The credentials are never logged; the username (an expiry and an opaque id, nothing secret) is,
so a TURN server's log can be matched to a link.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .config import IceServer, Settings
from .limits import TokenBuckets
from .turn import TurnCredentialError, credential_expiry, mint

log = logging.getLogger("scenelink.ice")

# Fresh credentials asked for by one link or embedded view: a few at once (reloads, a change of
# network), then one every 10 s. Each credential may hold several relays (coturn's user-quota),
# so minting without limit would let one link holder take many.
RENEW_RATE, RENEW_BURST = 0.1, 6

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class FreshEachTime(Iterable[IceServer]):
    """An ICE server list that is made anew each time it is iterated: one peer connection, one
    fresh TURN credential (a list kept from start-up would hold credentials long expired)."""

    def __init__(self, make: Callable[[], tuple[IceServer, ...]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[IceServer]:
        return iter(self.make())


class IceServers:
    """Mints the ICE server lists of one gateway process (one owner: the application)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.stun = settings.ice_servers
        self.turn = settings.turn
        self.node = _UNSAFE.sub("-", settings.node_name)[:24] or "gateway"
        self.clock = clock
        self.renewals = TokenBuckets(rate=RENEW_RATE, burst=RENEW_BURST)

    def renewal_wait(self, key: str) -> float:
        """0.0 when ``key`` (a link, an embedded view) may have another credential now, else the
        seconds until it may."""
        return self.renewals.take(key) if self.turn.urls else 0.0

    def for_browser(self, kind: str, subject: str, not_after: float | None = None) -> dict[str, Any]:
        """``{"ice_servers": [...], "ice_servers_expire_in": seconds or None}`` for a browser.

        ``kind`` and ``subject`` (a link id, an operator's name) go into the username's opaque id
        so that the TURN server's log names what the relay was for; a random part keeps two
        credentials apart. Without a TURN server, or with too little time left before
        ``not_after``, the list holds the STUN servers alone.
        """
        servers = [s.to_browser() for s in self.stun]
        expires_in: int | None = None
        if self.turn.urls:
            now = self.clock()
            opaque = f"{kind}-{_UNSAFE.sub('-', subject)[:40]}-{secrets.token_hex(4)}"
            try:
                credential = mint(
                    self.turn.secret, opaque, credential_expiry(now, self.turn.credential_seconds, not_after)
                )
            except TurnCredentialError as exc:
                log.info("no TURN credential for %s %s: %s", kind, subject, exc)
            else:
                log.info("TURN credential %s issued to %s %s", credential.username, kind, subject)
                servers.append(IceServer(self.turn.urls, credential.username, credential.credential).to_browser())
                expires_in = int(credential.expires_at - now)
        return {"ice_servers": servers, "ice_servers_expire_in": expires_in}

    def gateway_servers(self) -> FreshEachTime:
        """What the gateway's peers are built with: :meth:`for_gateway` on every use."""
        return FreshEachTime(self.for_gateway)

    def for_gateway(self) -> tuple[IceServer, ...]:
        """The list for one of the gateway's own peer connections (a fresh credential each time:
        aiortc allocates its relay while gathering, then refreshes that allocation itself)."""
        if not self.turn.gateway_urls:
            return self.stun
        credential = mint(
            self.turn.secret, f"gw-{self.node}-{secrets.token_hex(4)}",
            credential_expiry(self.clock(), self.turn.credential_seconds),
        )
        relay_only = self.turn.gateway_policy == "relay"
        turn = IceServer(self.turn.gateway_urls, credential.username, credential.credential, relay_only=relay_only)
        return (turn,) if relay_only else (*self.stun, turn)
