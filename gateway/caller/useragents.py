"""What a caller's user agent tells us before the page runs: Android's emergency ``Live`` view, and
in-app browsers and web views that cannot use the camera (or would trap the link's cookie)."""

from __future__ import annotations

import re

# Android's Emergency Location Service opens the link in an integrated web view whose user agent
# carries "Live/<version>"; touch does not work there, so the page starts by itself.
_LIVE = re.compile(r" Live/\d")

# Apps that open links in their own browser: it may not be allowed the camera, and its cookies are
# not the phone browser's, so the link must not be bound to it.
_IN_APP = (
    ("Facebook", re.compile(r"FBAN|FBAV|FB_IAB|FBIOS|FB4A")),
    ("Instagram", re.compile(r"Instagram")),
    ("WhatsApp", re.compile(r"WhatsApp")),
    ("Snapchat", re.compile(r"Snapchat")),
    ("TikTok", re.compile(r"musical_ly|TikTok|BytedanceWebview")),
    ("LinkedIn", re.compile(r"LinkedInApp")),
    ("WeChat", re.compile(r"MicroMessenger")),
    ("Line", re.compile(r"\bLine/\d")),
    ("X", re.compile(r"Twitter(?:Android)?/")),
)
_ANDROID_WEBVIEW = re.compile(r"Android.*; wv\)")


def is_live_view(user_agent: str) -> bool:
    return bool(_LIVE.search(user_agent or ""))


def in_app_browser(user_agent: str) -> str | None:
    """The app whose browser this is, "Android web view", or None for a real browser (or Live)."""
    ua = user_agent or ""
    if is_live_view(ua):
        return None
    for name, pattern in _IN_APP:
        if pattern.search(ua):
            return name
    if _ANDROID_WEBVIEW.search(ua):
        return "Android web view"
    return None
