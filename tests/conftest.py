"""Shared test helpers: the private test network and a gateway application on real parts."""

from __future__ import annotations

import ipaddress

import ifaddr
import pytest

TEST_NET = ipaddress.ip_network("10.99.0.0/24")


def on_private_test_network() -> bool:
    """True inside the network namespace made by ``tests/netns-run``.

    WebRTC peers gather every non-loopback address; outside the namespace that would send test
    traffic to this machine's real interfaces, which tests must never do.
    """
    found = False
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: aioice ignores link-local, and the namespace has no other
            address = ipaddress.ip_address(ip.ip)
            if address.is_loopback:
                continue
            if address not in TEST_NET:
                return False
            found = True
    return found


needs_test_network = pytest.mark.skipif(
    not on_private_test_network(),
    reason="WebRTC tests run only inside the private network namespace: use `make test` (tests/netns-run)",
)
