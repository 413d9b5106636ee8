"""Checks on offers before aiortc sees them, and the tuning the gateway adds to its answers.

Pure text in, text out: no sockets, no peer connections.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_SDP_BYTES = 64 * 1024
MAX_MEDIA_SECTIONS = 8

# Payload formats that carry no video of their own and take no bitrate hints.
_AUXILIARY = {"rtx", "red", "ulpfec", "flexfec-03"}


SETUP_ROLES = frozenset({"actpass", "active", "passive"})
_CONNECTION = re.compile(r"^c=IN IP[46] \S+\s*$")


class SdpError(ValueError):
    """The offer is not one the gateway will negotiate; the message says why."""


def parse_offer(body: Any) -> str:
    """Validate a JSON ``{"sdp": ..., "type": "offer"}`` body and return the SDP text."""
    return _parse_description(body, "offer")


def parse_answer(body: Any) -> str:
    """Validate a JSON ``{"sdp": ..., "type": "answer"}`` body and return the SDP text."""
    return _parse_description(body, "answer")


def _parse_description(body: Any, kind: str) -> str:
    if not isinstance(body, Mapping):
        raise SdpError("expected a JSON object with 'sdp' and 'type'")
    if body.get("type") != kind:
        raise SdpError(f"'type' must be '{kind}'")
    sdp = body.get("sdp")
    if not isinstance(sdp, str) or not sdp:
        raise SdpError("'sdp' must be a non-empty string")
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise SdpError(f"the {kind} is larger than {MAX_SDP_BYTES} bytes")
    lines = sdp.replace("\r\n", "\n").strip().split("\n")
    if lines[0] != "v=0":
        raise SdpError("an SDP must start with 'v=0'")
    if any(len(line) < 2 or line[1] != "=" for line in lines):
        raise SdpError("every SDP line must have the form 'x=value'")
    media = [line for line in lines if line.startswith("m=")]
    if not media:
        raise SdpError(f"the {kind} has no media sections")
    if len(media) > MAX_MEDIA_SECTIONS:
        raise SdpError(f"the {kind} has more than {MAX_MEDIA_SECTIONS} media sections")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise SdpError(f"the {kind} has no DTLS fingerprint")
    for line in lines:
        if line.startswith("a=setup:") and line[8:].strip() not in SETUP_ROLES:
            raise SdpError(f"'a=setup:' must be one of {', '.join(sorted(SETUP_ROLES))}")
        if line.startswith("c=") and not _CONNECTION.match(line):
            raise SdpError("a connection line must read 'c=IN IP4 <address>' or 'c=IN IP6 <address>'")
    return sdp


def media_kinds(sdp: str) -> list[str]:
    return [line[2:].split(" ", 1)[0] for line in sdp.splitlines() if line.startswith("m=")]


def add_bitrate_hints(sdp: str, start_kbps: int, min_kbps: int, max_kbps: int) -> str:
    """Add Chromium's ``x-google-*-bitrate`` parameters to each video format of an answer.

    aiortc sends only REMB feedback, from which Chromium's estimate climbs slowly; with a start
    and a floor it sends the camera's full resolution from the first seconds instead of stepping
    down to 480x360 or lower. Other browsers ignore the parameters.
    """
    hints = f"x-google-start-bitrate={start_kbps};x-google-min-bitrate={min_kbps};x-google-max-bitrate={max_kbps}"
    eol = "\r\n" if "\r\n" in sdp else "\n"
    out: list[str] = []
    sections = re.split(r"(?m)^(?=m=)", sdp)
    for section in sections:
        if not section.startswith("m=video"):
            out.append(section)
            continue
        lines = section.rstrip("\r\n").split(eol)
        codecs = {}
        for line in lines:
            m = re.match(r"a=rtpmap:(\d+) ([^/]+)/", line)
            if m:
                codecs[m.group(1)] = m.group(2).lower()
        primary = [pt for pt, name in codecs.items() if name not in _AUXILIARY]
        seen = set()
        for i, line in enumerate(lines):
            m = re.match(r"a=fmtp:(\d+) (.*)", line)
            if m and m.group(1) in primary:
                seen.add(m.group(1))
                if "x-google-start-bitrate" not in line:
                    lines[i] = f"{line};{hints}"
        for pt in primary:
            if pt not in seen:
                at = max(i for i, line in enumerate(lines) if line.startswith(f"a=rtpmap:{pt} "))
                lines.insert(at + 1, f"a=fmtp:{pt} {hints}")
        out.append(eol.join(lines) + eol)
    return "".join(out)


# Session-level attributes that belong to one transport: when an answer is merged with another,
# each section takes its own copy of them.
_TRANSPORT_ATTRIBUTES = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:", "a=ice-options:")


def _sections(sdp: str) -> tuple[list[str], list[list[str]]]:
    lines = sdp.replace("\r\n", "\n").strip().split("\n")
    header: list[str] = []
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            header.append(line)
    return header, sections


def _mid(section: list[str]) -> str | None:
    return next((line[6:].strip() for line in section if line.startswith("a=mid:")), None)


def _join(header: list[str], sections: list[list[str]]) -> str:
    return "\r\n".join(header + [line for section in sections for line in section]) + "\r\n"


def split_offer(sdp: str, kinds: frozenset[str]) -> tuple[str | None, str | None]:
    """Split an offer in two: the media sections of ``kinds``, and the rest.

    Each part keeps the session lines, with its BUNDLE group narrowed to its own sections, so it
    can be answered by a different peer (media by an SFU, the data channel by the gateway).
    A part with no sections is None.
    """
    header, sections = _sections(sdp)
    chosen = [s for s in sections if s[0][2:].split(" ", 1)[0] in kinds]
    others = [s for s in sections if s[0][2:].split(" ", 1)[0] not in kinds]

    def part(group: list[list[str]]) -> str | None:
        if not group:
            return None
        mids = [m for m in (_mid(s) for s in group) if m is not None]
        head = [
            f"a=group:BUNDLE {' '.join(mids)}" if line.startswith("a=group:BUNDLE") else line
            for line in header
        ]
        return _join(head, group)

    return part(chosen), part(others)


def merge_answers(offer_sdp: str, answers: list[str]) -> str:
    """One answer to ``offer_sdp`` from the answers to its parts (see :func:`split_offer`).

    Sections follow the offer's order. The merged answer has no BUNDLE group: each part keeps
    its own transport (its own ICE and DTLS with its own peer), which a browser's default
    ``balanced`` bundle policy allows. Transport attributes found at session level in a part
    move into each of its sections.
    """
    by_mid: dict[str, list[str]] = {}
    header: list[str] | None = None
    for answer in answers:
        head, sections = _sections(answer)
        shared = [line for line in head if line.startswith(_TRANSPORT_ATTRIBUTES)]
        for section in sections:
            mid = _mid(section)
            if mid is None:
                raise SdpError("an answer section has no a=mid")
            own = {line.split(":", 1)[0] for line in section}
            by_mid[mid] = section + [line for line in shared if line.split(":", 1)[0] not in own]
        if header is None:
            header = [
                line for line in head
                if not line.startswith(("a=group:", "a=ice-lite")) and not line.startswith(_TRANSPORT_ATTRIBUTES)
            ]
    _, offered = _sections(offer_sdp)
    merged = []
    for section in offered:
        mid = _mid(section)
        if mid is None or mid not in by_mid:
            raise SdpError(f"no answer for the offer's section {mid!r}")
        merged.append(by_mid[mid])
    return _join(header or ["v=0"], merged)
