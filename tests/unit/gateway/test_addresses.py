"""The real client behind trusted proxies: X-Forwarded-For is believed only from them, read from
the right, and a client cannot choose its own address by sending the header."""

import pytest

from gateway.addresses import parse_address, parse_networks, real_client

PROXIES = parse_networks(["10.0.0.0/8", "192.0.2.10"])


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_claims():
    assert real_client("198.51.100.7", ["203.0.113.1"], ()) == "198.51.100.7"


def test_a_header_from_an_untrusted_peer_is_ignored():
    assert real_client("198.51.100.7", ["10.1.1.1, 203.0.113.1"], PROXIES) == "198.51.100.7"


def test_behind_one_proxy_the_client_is_the_address_it_appended():
    assert real_client("10.0.0.2", ["203.0.113.1"], PROXIES) == "203.0.113.1"


def test_a_client_cannot_spoof_by_sending_its_own_header_through_the_proxy():
    # The client sent "X-Forwarded-For: 1.2.3.4"; nginx appended the address it saw.
    assert real_client("10.0.0.2", ["1.2.3.4, 203.0.113.9"], PROXIES) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop():
    assert real_client("192.0.2.10", ["203.0.113.5, 10.9.9.9, 10.0.0.3"], PROXIES) == "203.0.113.5"
    assert real_client("10.0.0.2", ["203.0.113.5", "10.9.9.9"], PROXIES) == "203.0.113.5", "several headers"


def test_when_every_hop_is_trusted_the_left_most_is_taken():
    assert real_client("10.0.0.2", ["10.0.0.7, 10.0.0.8"], PROXIES) == "10.0.0.7"


def test_a_proxy_that_sends_no_header_is_itself_the_client():
    assert real_client("10.0.0.2", [], PROXIES) == "10.0.0.2"


def test_garbage_in_the_header_stops_at_the_proxy_that_passed_it():
    assert real_client("10.0.0.2", ["203.0.113.1, not-an-address"], PROXIES) == "10.0.0.2"
    assert real_client("10.0.0.2", ["evil, 10.0.0.9"], PROXIES) == "10.0.0.9"


@pytest.mark.parametrize("text,address", [
    ("203.0.113.1", "203.0.113.1"), (" 203.0.113.1:4431 ", "203.0.113.1"), ("[2001:db8::1]:443", "2001:db8::1"),
    ("2001:db8::1", "2001:db8::1"), ("::ffff:203.0.113.1", "203.0.113.1"), ("unknown", None), ("", None),
])
def test_one_hop_is_parsed_with_or_without_a_port(text, address):
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == address


def test_ipv4_mapped_peers_match_ipv4_proxies():
    assert real_client("::ffff:10.0.0.2", ["203.0.113.1"], PROXIES) == "203.0.113.1"


def test_a_bad_network_is_named():
    with pytest.raises(ValueError, match="'nginx'"):
        parse_networks(["10.0.0.0/8", "nginx"])
