"""A caller whose network lets through nothing but TCP to the TURN server on 443 (and the
gateway's HTTPS) still streams video and location, relayed by coturn running the documented
configuration, with credentials the gateway minted for that link alone. With Janus as the media
plane the same caller's video reaches Janus through the same relay.

The candidate pair Chromium actually uses is read from its own statistics: the test passes only
if the media went through the relay, never by a direct path.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from typing import Any

import pytest
from playwright.async_api import expect

from ..services.coturn import Coturn, coturn
from ..strict import require
from .callers import Operator, Phones, eventually
from .conftest import HOST, chromium_args, running_gateway
from .firewalled import CallerNetwork, browser_in, firewalled_caller, missing

pytestmark = pytest.mark.e2e

TURN_HOST = "10.99.4.3"  # where coturn listens for callers: TLS on 443
SECRET = "turn-secret-shared-by-gateway-and-coturn"
# The secret being rotated out: coturn accepts both while the gateway moves to the new one.
OLD_SECRET = "the-previous-turn-secret-being-rotated-out"

# Every peer connection the page makes, and the configuration it was given.
WATCH_PEERS = """
(() => {
  const Real = window.RTCPeerConnection;
  window.__pcs = [];
  window.__configs = [];
  function Watched(config) {
    const pc = new Real(config);
    window.__pcs.push(pc);
    window.__configs.push(JSON.parse(JSON.stringify(config || {})));
    return pc;
  }
  Watched.prototype = Real.prototype;
  window.RTCPeerConnection = Watched;
})();
"""

# The candidate pair the connected peer connection is using, from getStats().
SELECTED_PAIR = """
async () => {
  const pc = window.__pcs.filter((p) => p.connectionState === "connected").pop();
  if (!pc) return null;
  const stats = await pc.getStats();
  let id = null;
  stats.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) id = r.selectedCandidatePairId; });
  const pair = id && stats.get(id);
  if (!pair || !pair.bytesSent) return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {
    local: { type: local.candidateType, relayProtocol: local.relayProtocol, url: local.url },
    remote: { type: remote.candidateType, address: remote.address },
    bytesSent: pair.bytesSent,
  };
}
"""


@pytest.fixture(scope="module")
def turn_network(tmp_path_factory):
    reason = missing()
    require(reason is None, reason or "")
    folder = tmp_path_factory.mktemp("turn")
    from gateway.tls import ensure_self_signed

    cert, key = ensure_self_signed(folder / "tls", [TURN_HOST])
    # The caller may open the gateway's page (HTTPS) and reach coturn on 443; nothing else.
    gateway_port = _free_port()
    with firewalled_caller([(HOST, gateway_port), (TURN_HOST, 443)], extra_near=(TURN_HOST,)) as net:
        site = [
            "realm=turn.test.invalid",
            f"listening-ip={TURN_HOST}",  # callers: TLS on 443
            f"listening-ip={HOST}",       # the gateway's own relay: 3478
            f"relay-ip={HOST}",
            f"cert={cert}",
            f"pkey={key}",
            f"static-auth-secret={SECRET}",
            f"static-auth-secret={OLD_SECRET}",
            f"allowed-peer-ip={HOST}",    # the gateway's media address, a private one
        ]
        with coturn(folder / "coturn", site, wait_for=(TURN_HOST, 443)) as server:
            yield net, server, gateway_port, folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# Every connected transport's selected pair (with Janus the page has two: video to Janus, the
# data channel to the gateway).
SELECTED_PAIRS = """
async () => {
  const pc = window.__pcs.filter((p) => p.connectionState === "connected").pop();
  if (!pc) return null;
  const stats = await pc.getStats();
  const pairs = [];
  stats.forEach((r) => {
    if (r.type !== "transport" || !r.selectedCandidatePairId) return;
    const pair = stats.get(r.selectedCandidatePairId);
    if (!pair || !pair.bytesSent) return;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    pairs.push({
      local: { type: local.candidateType, relayProtocol: local.relayProtocol, url: local.url },
      remote: { type: remote.candidateType, address: remote.address, port: remote.port },
      bytesSent: pair.bytesSent,
    });
  });
  return pairs.length ? pairs : null;
}
"""


def _turn_gateway(folder, port: int, name: str, extra: str = "", seconds: int = 300,
                  env: dict[str, str] | None = None):
    secret_file = folder / "turn.secret"
    secret_file.unlink(missing_ok=True)
    with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:  # never readable by others
        fh.write(SECRET + "\n")
    config = folder / f"scenelink-{name}.toml"
    config.write_text(
        f'[turn]\nurls = ["turns:{TURN_HOST}:443?transport=tcp"]\nsecret_file = "{secret_file}"\n'
        f"credential_seconds = {seconds}\n{extra}"
        # Nothing to hand over to at the end: the gateway stops at once.
        "[server]\ndrain_seconds = 0.1\n"
    )
    return running_gateway(folder / f"data-{name}", {"SCENELINK_PORT": str(port), **(env or {})}, config=config,
                           operators=("handler1",))


def test_the_caller_network_lets_through_only_tcp_to_turn_and_the_page(turn_network):
    net, _, gateway_port, _ = turn_network
    probe = f"""
import socket
def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close(); return True
    except OSError:
        return False
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.settimeout(1)
# A STUN binding request: coturn answers it on 3478 whenever it gets there.
try:  # refused on the way out (EPERM) or never answered
    udp.sendto(bytes.fromhex("000100002112a442") + bytes(12), ("{HOST}", 3478))
    udp.recv(100); answered = True
except OSError:
    answered = False
print(tcp("{TURN_HOST}", 443), tcp("{HOST}", 3478), answered)
"""
    done = net.run("python3", "-c", probe, capture_output=True, text=True, timeout=20)
    assert done.stdout.split() == ["True", "False", "False"], done.stdout + done.stderr


async def _allocate(secret: str, expires_at: int) -> bool:
    """Whether coturn grants a relay (over TLS on 443) to a credential minted with ``secret``."""
    import ssl

    from aioice import stun, turn

    from gateway.turn import mint

    credential = mint(secret.encode(), "probe", expires_at)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        transport, _ = await turn.create_turn_endpoint(
            asyncio.DatagramProtocol, server_addr=(TURN_HOST, 443), username=credential.username,
            password=credential.credential, transport="tcp", ssl=context)
    except stun.TransactionFailed as exc:
        assert exc.response.attributes["ERROR-CODE"][0] == 401, exc
        return False
    transport.close()
    return True


async def test_coturn_takes_the_gateway_s_credentials_until_they_expire_and_only_from_its_secrets(turn_network):
    now = int(time.time())
    assert await _allocate(SECRET, now + 60)
    assert await _allocate(OLD_SECRET, now + 60), "both secrets while one is rotated out"
    assert not await _allocate(SECRET, now - 1), "expired"
    assert not await _allocate("a-secret-coturn-has-never-seen-0123", now + 60), "another secret"


async def _stream_through_turn(net: CallerNetwork, server: Coturn, gw, sample_video,
                               selected: str = SELECTED_PAIR) -> tuple[Any, dict]:
    async with Operator(gw.base_url, "handler1", gw.passwords["handler1"]) as handler:
        incident, link = await handler.incident()
        # Chromium checks a TURN server's TLS certificate; coturn has a self-signed one here.
        async with browser_in(net, [*chromium_args(sample_video), "--ignore-certificate-errors"]) as browser:
            phones = Phones(browser)
            page = await phones.open(link["url"], init_script=WATCH_PEERS)
            await page.tap("#start")
            await expect(page.locator("#mode")).to_have_attribute("data-mode", "video", timeout=30000)
            pair = await eventually(lambda: page.evaluate(selected), timeout=20)

            async def frames() -> int:
                health = (await handler.get(f"/api/incidents/{incident['id']}/stream")).get("stream") or {}
                return (health.get("frames") or 0) > 30

            await eventually(frames, timeout=30)
            await handler.until(incident["id"], lambda r: r["fixes"], timeout=30)
            configs = await page.evaluate("window.__configs")
            config = (await handler.get("/api/client-config"))
            await phones.close()
    return pair, {"page": configs[0], "console": config, "link": link}


async def test_a_caller_that_can_reach_only_turn_streams_through_the_relay(turn_network, sample_video):
    net, server, gateway_port, folder = turn_network
    with _turn_gateway(folder, gateway_port, "direct") as gw:
        started = time.time()
        pair, seen = await _stream_through_turn(net, server, gw, sample_video)
        log = gw.log_path.read_text(errors="replace")
    assert pair["local"]["type"] == "relay" and pair["local"]["relayProtocol"] == "tls", pair
    assert pair["local"]["url"].startswith(f"turns:{TURN_HOST}:443"), pair
    assert pair["remote"]["address"] == HOST, "the gateway's own address, reached from the relay"

    # The page was given a credential minted for its link: "<expiry>:link-<id>-<random>", short.
    (turn,) = [s for s in seen["page"]["iceServers"] if s["urls"][0].startswith("turns:")]
    expiry, opaque = turn["username"].split(":", 1)
    assert opaque.startswith("link-") and started < int(expiry) <= time.time() + 300
    # The console's own credential names the operator; neither is ever the same twice.
    (console_turn,) = [s for s in seen["console"]["ice_servers"] if s["urls"][0].startswith("turns:")]
    assert console_turn["username"].split(":", 1)[1].startswith("operator-handler1-")
    assert 0 < seen["console"]["ice_servers_expire_in"] <= 300
    # Secrets stay out of the logs: the shared secret and the passwords; coturn saw the username.
    assert SECRET not in log and turn["credential"] not in log and console_turn["credential"] not in log
    assert turn["username"] in log
    assert turn["username"] in server.log_text()
    assert turn["credential"] not in server.log_text()


async def test_a_relay_only_gateway_hides_its_addresses_behind_its_own_relay(turn_network, sample_video):
    net, server, gateway_port, folder = turn_network
    extra = f'gateway_urls = ["turn:{HOST}:3478?transport=udp"]\ngateway_policy = "relay"\n'
    # Credentials of a minute: the page renews its credential before every connection (it does
    # so within a minute of the expiry), so the relay is allocated with a renewed one.
    with _turn_gateway(folder, gateway_port, "relayed", extra, seconds=60) as gw:
        pair, seen = await _stream_through_turn(net, server, gw, sample_video)
        log = gw.log_path.read_text(errors="replace")
    assert pair["local"]["type"] == "relay" and pair["remote"]["type"] == "relay", pair
    (turn,) = [s for s in seen["page"]["iceServers"] if s["urls"][0].startswith("turns:")]
    issued = [line for line in log.splitlines() if "TURN credential" in line and "issued to link" in line]
    assert len(issued) >= 2 and turn["username"] in issued[-1], "consent's, then the renewed one the page used"
    assert re.search(r'"POST /c/[^ ]+/ice HTTP', log)
    assert SECRET not in log
    assert ":gw-" in server.log_text(), "the gateway allocated its relay with credentials of its own"


async def test_with_janus_a_caller_that_can_reach_only_turn_streams_through_the_relay_to_janus(
    turn_network, janus, sample_video
):
    # The caller's video goes to Janus, its data channel to the gateway: both through coturn, which
    # relays to Janus's media address (the same test address here, listed in allowed-peer-ip).
    net, server, gateway_port, folder = turn_network
    with _turn_gateway(folder, gateway_port, "janus", env=janus.env()) as gw:
        pairs, seen = await _stream_through_turn(net, server, gw, sample_video, SELECTED_PAIRS)
        log = gw.log_path.read_text(errors="replace")
    assert len(pairs) == 2, pairs
    for pair in pairs:
        assert pair["local"]["type"] == "relay" and pair["local"]["relayProtocol"] == "tls", pair
        assert pair["local"]["url"].startswith(f"turns:{TURN_HOST}:443"), pair
        assert pair["remote"]["address"] == HOST, pair
    # Janus's media ports (tests/services/janus.py starts it with -r 21000-21999): the video went to Janus.
    assert sum(21000 <= pair["remote"]["port"] <= 21999 for pair in pairs) == 1, pairs
    (turn,) = [s for s in seen["page"]["iceServers"] if s["urls"][0].startswith("turns:")]
    assert turn["username"].split(":", 1)[1].startswith("link-"), turn
    assert "cannot take the caller" not in log, "the caller went to the fallback plane, not Janus"
    assert SECRET not in log and turn["credential"] not in log
    assert janus.api_secret not in log and janus.admin_key not in log
