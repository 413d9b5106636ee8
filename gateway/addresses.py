"""The address a request really came from, when it may have passed through trusted proxies.

Behind a reverse proxy every request arrives from the proxy's address, so throttles keyed on it
would put every caller in one bucket. The proxy says whom it served in ``X-Forwarded-For``, but
any client can send that header too: it is believed only when the direct peer is a configured
trusted proxy, and then read from the right, skipping further trusted proxies, to the first
address that is not one. Everything to the left of that was written by the client and is ignored.
Pure: strings in, a string out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks (or single addresses) as networks; ``ValueError`` names a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
    return tuple(networks)


def parse_address(value: str) -> Address | None:
    """One hop of ``X-Forwarded-For``: an address, perhaps with a port or IPv6 brackets."""
    value = value.strip()
    if value.startswith("["):  # [2001:db8::1]:443
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # 192.0.2.1:1234
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def real_client(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The client's address: ``peer`` itself unless it is a trusted proxy.

    ``forwarded_for`` holds every ``X-Forwarded-For`` header of the request, in order. From a
    trusted peer, the hops are read from the right: each trusted one passes the question on to
    the hop before it; the first untrusted hop is the client. A hop that is not an address ends
    the walk at the trusted proxy that passed it on, so garbage never becomes a key.
    """
    current = parse_address(peer) if peer else None
    if current is None:
        return peer or "unknown"
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(current, trusted):
            break
        earlier = parse_address(hop)
        if earlier is None:
            break
        current = earlier
    return str(current)
