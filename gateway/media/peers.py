"""Peer connections as the gateway makes them: only the configured ICE servers, VP8 first."""

from __future__ import annotations

from collections.abc import Iterable

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection, RTCRtpSender

from ..config import IceServer


def new_peer_connection(ice_servers: Iterable[IceServer]) -> RTCPeerConnection:
    # An RTCConfiguration with no list makes aiortc fall back to a public STUN server; the
    # gateway contacts no third party unless configured to, so the list is always explicit.
    listed = list(ice_servers)
    servers = [RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential) for s in listed]
    # A relay-only TURN server (turn.gateway_policy = "relay") hides the gateway's own addresses.
    policy = RTCIceTransportPolicy.RELAY if any(s.relay_only for s in listed) else RTCIceTransportPolicy.ALL
    return RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))


def prefer_vp8(pc: RTCPeerConnection) -> None:
    """Put VP8 first on every video transceiver (H.264 stays available as a fallback).

    VP8 is cheaper to re-encode per viewer, and H.264 from iOS Safari has broken aiortc sessions.
    """
    codecs = RTCRtpSender.getCapabilities("video").codecs
    ordered = sorted(codecs, key=lambda c: 0 if c.mimeType.lower() == "video/vp8" else 1)
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(ordered)
