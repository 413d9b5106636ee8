"""The ICE servers a browser or the gateway's own peer is given: STUN as configured, and TURN
with a credential of its own that coturn would accept (checked here with HMAC by hand)."""

import base64
import hmac
from dataclasses import replace

from gateway.config import IceServer, Settings, TurnSettings
from gateway.ice import IceServers

SECRET = b"a-secret-shared-with-coturn"
NOW = 1_800_000_000.0
STUN = (IceServer(("stun:stun.example.police.uk:3478",)),)


def settings(**turn) -> Settings:
    s = Settings(data_dir="/nonexistent", ice_servers=STUN, node_name="node a/1")  # type: ignore[arg-type]
    return replace(s, turn=TurnSettings(secret=SECRET, **turn))


def coturn_accepts(entry: dict, now: float) -> bool:
    """What coturn checks for use-auth-secret: the HMAC of the username, and an expiry still ahead."""
    mac = base64.b64encode(hmac.new(SECRET, entry["username"].encode(), "sha1").digest()).decode()
    return entry["credential"] == mac and int(entry["username"].split(":", 1)[0]) > now


def test_without_turn_a_browser_gets_the_stun_servers_alone():
    out = IceServers(settings(), clock=lambda: NOW).for_browser("link", "lnk_1")
    assert out == {"ice_servers": [{"urls": ["stun:stun.example.police.uk:3478"]}], "ice_servers_expire_in": None}


def test_a_browser_gets_a_credential_of_its_own_that_ends_with_its_link():
    ice = IceServers(settings(urls=("turns:turn.example.police.uk:443?transport=tcp",), credential_seconds=600),
                     clock=lambda: NOW)
    out = ice.for_browser("link", "lnk_1", not_after=NOW + 200)
    stun, turn = out["ice_servers"]
    assert turn["urls"] == ["turns:turn.example.police.uk:443?transport=tcp"]
    assert turn["username"].startswith(f"{int(NOW) + 200}:link-lnk_1-")
    assert coturn_accepts(turn, NOW) and not coturn_accepts(turn, NOW + 200)
    assert out["ice_servers_expire_in"] == 200
    again = ice.for_browser("link", "lnk_1", not_after=NOW + 5000)["ice_servers"][1]
    assert again["username"] != turn["username"], "every credential is minted afresh"
    assert int(again["username"].split(":")[0]) == int(NOW) + 600, "short-lived even on a long link"


def test_a_link_about_to_end_gets_no_turn_credential():
    ice = IceServers(settings(urls=("turn:turn.example.police.uk:3478",)), clock=lambda: NOW)
    out = ice.for_browser("link", "lnk_1", not_after=NOW + 5)
    assert out["ice_servers"] == [{"urls": ["stun:stun.example.police.uk:3478"]}]


def test_an_operator_name_is_made_safe_for_the_username():
    ice = IceServers(settings(urls=("turn:turn.example.police.uk:3478",)), clock=lambda: NOW)
    turn = ice.for_browser("operator", "Jo Smith:x")["ice_servers"][1]
    assert turn["username"].split(":", 1)[1].startswith("operator-Jo-Smith-x-")


def test_the_gateway_uses_turn_only_when_gateway_urls_are_set():
    assert IceServers(settings(urls=("turn:t.example:3478",)), clock=lambda: NOW).for_gateway() == STUN
    ice = IceServers(settings(gateway_urls=("turn:10.0.0.5:3478?transport=udp",)), clock=lambda: NOW)
    stun, turn = ice.for_gateway()
    assert stun == STUN[0] and turn.urls == ("turn:10.0.0.5:3478?transport=udp",)
    assert turn.username is not None and turn.username.split(":", 1)[1].startswith("gw-node-a-1-")
    assert coturn_accepts({"username": turn.username, "credential": turn.credential}, NOW)


def test_a_relay_only_gateway_is_given_its_turn_server_alone():
    ice = IceServers(settings(gateway_urls=("turn:10.0.0.5:3478",), gateway_policy="relay"), clock=lambda: NOW)
    (turn,) = ice.for_gateway()
    assert turn.relay_only and turn.urls == ("turn:10.0.0.5:3478",)
    assert "relay_only" not in turn.to_browser() and turn.credential not in repr(turn)


def test_the_gateway_list_mints_afresh_for_each_peer_connection():
    ice = IceServers(settings(gateway_urls=("turn:10.0.0.5:3478",)), clock=lambda: NOW)
    servers = ice.gateway_servers()
    first, second = list(servers)[-1], list(servers)[-1]
    assert first.username != second.username, "each peer connection allocates with a credential of its own"
