"""Offers are checked before aiortc sees them; answers carry bitrate hints for Chromium."""

import pytest

from gateway.media.sdp import (
    MAX_SDP_BYTES,
    SdpError,
    add_bitrate_hints,
    merge_answers,
    parse_answer,
    parse_offer,
    split_offer,
)

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


# A browser's offer as the caller's page makes it: video and the data channel, bundled.
CALLER_OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1", "a=msid-semantic: WMS s",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=mid:0", "a=ice-ufrag:cu", "a=ice-pwd:cp",
    "a=fingerprint:sha-256 AA:BB", "a=setup:actpass", "a=rtpmap:96 VP8/90000", "a=sendonly",
    "a=candidate:1 1 udp 1 10.99.0.1 5000 typ host",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:1", "a=ice-ufrag:cu",
    "a=ice-pwd:cp", "a=fingerprint:sha-256 AA:BB", "a=setup:actpass", "a=sctp-port:5000",
    "a=candidate:2 1 udp 1 10.99.0.1 5001 typ host", "",
])


def test_an_offer_splits_into_its_media_and_its_data_channel():
    media, data = split_offer(CALLER_OFFER, frozenset({"video", "audio"}))
    assert media is not None and data is not None
    assert "m=video" in media and "m=application" not in media and "a=group:BUNDLE 0\r\n" in media
    assert "m=application" in data and "m=video" not in data and "a=group:BUNDLE 1\r\n" in data
    assert "5000 typ host" in media and "5001 typ host" in data
    assert split_offer(CALLER_OFFER, frozenset({"audio"}))[0] is None


def test_answers_merge_in_the_offers_order_each_on_its_own_transport():
    # One answer has its transport at session level (as some servers write it), one per section.
    sfu = "\r\n".join([
        "v=0", "o=- 9 9 IN IP4 10.99.0.1", "s=SFU", "t=0 0", "a=group:BUNDLE 0", "a=ice-ufrag:ju",
        "a=ice-pwd:jp", "a=fingerprint:sha-256 CC:DD", "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 10.99.0.1",
        "a=mid:0", "a=recvonly", "a=setup:active", "",
    ])
    gateway = "\r\n".join([
        "v=0", "o=- 5 5 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 1",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:1", "a=ice-ufrag:gu",
        "a=ice-pwd:gp", "a=fingerprint:sha-256 EE:FF", "a=setup:active", "",
    ])
    merged = merge_answers(CALLER_OFFER, [gateway, sfu])
    assert "a=group:" not in merged
    video, data = merged.split("m=")[1:]
    assert video.startswith("video") and data.startswith("application")
    assert "a=ice-ufrag:ju" in video and "a=fingerprint:sha-256 CC:DD" in video and "a=setup:active" in video
    assert "a=ice-ufrag:gu" in data and "CC:DD" not in data
    assert merged.split("m=")[0].count("a=ice-ufrag") == 0
    with pytest.raises(SdpError, match="no answer"):
        merge_answers(CALLER_OFFER, [sfu])


def test_an_answer_is_checked_like_an_offer():
    answer = OFFER.replace("a=sendonly", "a=recvonly")
    assert parse_answer({"type": "answer", "sdp": answer}) == answer
    with pytest.raises(SdpError, match="'type' must be 'answer'"):
        parse_answer({"type": "offer", "sdp": answer})
