"""In-app browsers and Android's Live view, told apart from real browsers by their user agents."""

import pytest

from gateway.caller.useragents import in_app_browser, is_live_view

CHROME = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
WEBVIEW = "Mozilla/5.0 (Linux; Android 14; Pixel 7; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/156.0.0.0 Mobile Safari/537.36"


@pytest.mark.parametrize(
    "ua, app",
    [
        (CHROME, None),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            None,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
            None,
        ),
        (WEBVIEW + " Live/25.23.10", None),
        (WEBVIEW, "Android web view"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 [FBAN/FBIOS;FBAV/470.0]",
            "Facebook",
        ),
        (WEBVIEW + " [FB_IAB/FB4A;FBAV/470.0.0.0;]", "Facebook"),
        (WEBVIEW + " Instagram 330.0.0.40.92 Android", "Instagram"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 WhatsApp/24.10.75",
            "WhatsApp",
        ),
        ("", None),
    ],
)
def test_in_app_browsers_are_recognised(ua, app):
    assert in_app_browser(ua) == app


def test_the_live_view_is_recognised_by_its_version_token():
    assert is_live_view(WEBVIEW + " Live/25.23.10")
    assert not is_live_view(CHROME) and not is_live_view("LiveScore/1.0 " + CHROME)
