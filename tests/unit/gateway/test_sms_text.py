"""The link's text message takes at most two SMS parts in every language, at its longest.

At its longest: the longest sender name the configuration accepts, and a public URL of 40
characters, followed by ``/c/`` and a real
link token. The shortening is done by wording: languages with accented letters stay in UCS-2.
"""

import pytest

from gateway import i18n
from gateway.config import SMS_SENDER_MAX
from gateway.links import link_url, new_token
from gateway.sms.parts import count_parts

PUBLIC_URL = "https://scenelink.wyp.police.uk:8443/vid"  # 40 characters
SENDER = "Heddlu Gogledd Cymru"  # 20: the longest name config.py accepts


def longest_message(language: str, mode: str = "video") -> str:
    url = link_url(PUBLIC_URL, new_token())
    assert len(PUBLIC_URL) == 40 and len(SENDER) == SMS_SENDER_MAX == 20
    assert len(url) == 40 + len("/c/") + 32  # the token is 24 random bytes in URL-safe base64
    return i18n.sms_text(language, SENDER, url, mode)


@pytest.mark.parametrize("mode", ["video", "location"])
@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_language_fits_in_two_parts(language, mode):
    parts = count_parts(longest_message(language, mode))
    assert parts.parts <= 2, (language, mode, parts)


# The word for "camera" in each language's video text: a location-only text must not have it.
CAMERA = {"en": "camera", "cy": "camera", "pl": "kamer", "ro": "video", "pa": "ਕੈਮਰ", "ur": "کیمرا", "ar": "الكاميرا"}


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_a_location_only_text_does_not_promise_the_camera(language):
    assert CAMERA[language] in longest_message(language, "video")
    location_only = longest_message(language, "location")
    assert CAMERA[language] not in location_only


@pytest.mark.parametrize("language, encoding", [
    ("en", "GSM-7"), ("cy", "GSM-7"),
    # accents and other scripts are kept, so these go as UCS-2 and had to be worded shorter
    ("pl", "UCS-2"), ("ro", "UCS-2"), ("ur", "UCS-2"), ("pa", "UCS-2"), ("ar", "UCS-2"),
])
def test_accents_are_kept_not_dropped(language, encoding):
    assert count_parts(longest_message(language)).encoding == encoding
    assert count_parts(longest_message(language, "location")).encoding == encoding


def test_a_long_message_would_be_caught():
    # The same check fails for the wording this project used to send in Polish (4 parts).
    old = ("{sender}: kliknij ten link, aby udostępnić nam obraz z kamery i swoją lokalizację: {url}"
           " Używaj go tylko podczas rozmowy z nami.")
    body = old.replace("{sender}", SENDER).replace("{url}", link_url(PUBLIC_URL, new_token()))
    # sender 20 + ": " 2 + 72 before the link + " " 1 + link 75 + " " 1 + 39 after = 210 code
    # units; more than 3 x 67 = 201, so four parts
    assert len(body) == 210 and count_parts(body).parts == 4
