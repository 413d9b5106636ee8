"""What the caller's page reports is kept only as known, typed, bounded fields."""

import pytest

from gateway.caller.caller_status import BadStatus, clean


def test_a_full_report_keeps_its_fields():
    status = clean(
        {
            "mode": "video_low",
            "transport": "webrtc",
            "language": "ur",
            "discreet": False,
            "pending_fixes": 0,
            "browser": {
                "name": "Samsung Internet",
                "version": "25.0",
                "os": "Android",
                "in_app": None,
                "live_view": False,
            },
            "permissions": {"camera": "granted", "geolocation": "prompt"},
            "network": {
                "online": True,
                "type": "wifi",
                "effective_type": "4g",
                "downlink_mbps": 10,
                "rtt_ms": 50,
                "save_data": False,
            },
            "battery": {"level": 1, "charging": True},
            "camera": {
                "facing": "user",
                "torch": None,
                "torch_supported": False,
                "width": 640,
                "height": 480,
                "frame_rate": 15,
            },
        }
    )
    assert status["mode"] == "video_low" and status["language"] == "ur"
    assert status["browser"]["name"] == "Samsung Internet" and status["camera"]["facing"] == "user"
    assert status["battery"] == {"level": 1, "charging": True}


def test_unknown_and_ill_typed_fields_are_dropped():
    status = clean({
        "mode": "location", "transport": "carrier pigeon", "language": "xx", "script": "<b>",
        "browser": "Chrome", "permissions": {"camera": "maybe"}, "battery": {"level": 7},
        "network": {"downlink_mbps": float("nan"), "type": 5}, "camera": {"width": True},
    })
    assert "script" not in status and status["transport"] is None and status["language"] is None
    assert status["browser"]["name"] is None and status["permissions"]["camera"] is None
    assert status["battery"]["level"] is None and status["network"]["downlink_mbps"] is None
    assert status["network"]["type"] is None and status["camera"]["width"] is None


@pytest.mark.parametrize("report", [None, [], "video", {"mode": "flying"}, {}])
def test_a_report_needs_a_known_mode(report):
    with pytest.raises(BadStatus):
        clean(report)
