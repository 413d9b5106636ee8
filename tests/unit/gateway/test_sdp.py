"""Offers are checked before aiortc sees them; answers carry bitrate hints for Chromium."""

import pytest

from gateway.media.sdp import MAX_SDP_BYTES, SdpError, add_bitrate_hints, parse_offer

OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 0.0.0.0",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=fingerprint:sha-256 AA:BB", "a=sendonly", "",
])


def test_a_well_formed_offer_is_accepted():
    assert parse_offer({"type": "offer", "sdp": OFFER}) == OFFER


@pytest.mark.parametrize("body,message", [
    (None, "JSON object"),
    ({"type": "answer", "sdp": OFFER}, "'type' must be 'offer'"),
    ({"type": "offer", "sdp": ""}, "non-empty"),
    ({"type": "offer", "sdp": 42}, "non-empty"),
    ({"type": "offer", "sdp": "hello"}, "v=0"),
    ({"type": "offer", "sdp": "v=0\r\nnonsense\r\n"}, "x=value"),
    ({"type": "offer", "sdp": "v=0\r\ns=-\r\n"}, "no media"),
    ({"type": "offer", "sdp": OFFER.replace("a=fingerprint:sha-256 AA:BB\r\n", "")}, "fingerprint"),
    ({"type": "offer", "sdp": OFFER + "a=x:" + "y" * MAX_SDP_BYTES}, "larger than"),
    ({"type": "offer", "sdp": OFFER + "m=video 9 X 96\r\n" * 9}, "more than"),
])
def test_malformed_or_oversized_offers_are_refused_with_a_reason(body, message):
    with pytest.raises(SdpError, match=message):
        parse_offer(body)


def test_bitrate_hints_go_on_every_video_codec_but_not_on_rtx():
    tuned = add_bitrate_hints(OFFER, 900, 300, 2500)
    assert "a=fmtp:96 x-google-start-bitrate=900;x-google-min-bitrate=300;x-google-max-bitrate=2500\r\n" in tuned
    assert "a=fmtp:97 apt=96\r\n" in tuned
    assert tuned.count("x-google-start-bitrate") == 1


def test_existing_fmtp_lines_are_extended_not_duplicated():
    sdp = OFFER.replace(
        "a=rtpmap:97 rtx/90000", "a=rtpmap:97 rtx/90000\r\na=rtpmap:98 H264/90000\r\na=fmtp:98 packetization-mode=1"
    )
    tuned = add_bitrate_hints(sdp, 900, 300, 2500)
    assert "a=fmtp:98 packetization-mode=1;x-google-start-bitrate=900" in tuned
    assert tuned.count("a=fmtp:98") == 1
    assert add_bitrate_hints(tuned, 900, 300, 2500) == tuned


@pytest.mark.parametrize("line,message", [
    ("a=setup:bogus", "a=setup:"),
    ("c=IN", "connection line"),
    ("c=IN IP4", "connection line"),
    ("c=XX IP4 10.0.0.1", "connection line"),
])
def test_setup_roles_and_connection_lines_are_checked(line, message):
    from gateway.media.sdp import SdpError, parse_offer

    sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:sha-256 AB:CD\r\n" + line + "\r\n"
    with pytest.raises(SdpError, match=message):
        parse_offer({"type": "offer", "sdp": sdp})
    good = sdp.replace(line, "a=setup:actpass\r\nc=IN IP4 0.0.0.0")
    assert parse_offer({"type": "offer", "sdp": good}) == good
