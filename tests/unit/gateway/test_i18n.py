"""The caller's languages: complete strings files, the SMS text, negotiation, and the page render."""

import json
import re

import pytest

from gateway import i18n

PLACEHOLDER = re.compile(r"\{\w+\}")


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_language_has_every_string_with_the_same_placeholders(language):
    english, table = i18n.strings("en"), i18n.strings(language)
    assert set(table) == set(english)
    assert set(table["phrases"]) == set(english["phrases"])
    for key, text in english.items():
        if isinstance(text, str) and key not in ("lang", "dir", "name"):
            assert table[key].strip(), (language, key)
            assert set(PLACEHOLDER.findall(table[key])) == set(PLACEHOLDER.findall(text)), (language, key)
    assert table["lang"] == language


def test_arabic_and_urdu_run_right_to_left():
    assert {c for c in i18n.LANGUAGES if i18n.direction(c) == "rtl"} == {"ar", "ur"}
    assert [l["code"] for l in i18n.languages()] == list(i18n.LANGUAGES)


@pytest.mark.parametrize("language", [*i18n.LANGUAGES, None, "xx"])
def test_the_text_message_carries_the_link_and_the_sender_in_the_language(language):
    body = i18n.sms_text(language, "West Yorkshire Police", "https://gw.example/c/TOKEN")
    assert "https://gw.example/c/TOKEN" in body and body.startswith("West Yorkshire Police:")
    expected = i18n.strings(language if language in i18n.LANGUAGES else "en")["sms"].split("{url}")[1]
    assert body.endswith(expected)


def test_language_codes_are_checked():
    assert i18n.check_language("cy-GB") == "cy" and i18n.check_language("PL") == "pl"
    assert i18n.check_language(None) is None and i18n.check_language("") is None
    for bad in ("xx", "english", 3, ["cy"]):
        with pytest.raises(i18n.UnknownLanguage):
            i18n.check_language(bad)


@pytest.mark.parametrize("header, expected", [
    ("pl-PL,pl;q=0.9,en-GB;q=0.8", "pl"),
    ("fr-FR,fr;q=0.9", "en"),
    ("fr, ro;q=0.5, cy;q=0.7", "cy"),
    ("en;q=0, ur", "ur"),
    ("", "en"),
    (None, "en"),
    ("ar;q=x, pa", "pa"),
])
def test_the_phones_languages_pick_the_page_language(header, expected):
    assert i18n.negotiate(header) == expected


def test_phrases_are_looked_up_by_key():
    assert i18n.phrase_text("cy", "move_safe") == "Symudwch i rywle diogel"
    with pytest.raises(i18n.UnknownPhrase):
        i18n.phrase_text("en", "dance")
    book = {p["key"]: p for p in i18n.phrase_book()}
    assert book["can_talk"]["ask"] and not book["move_safe"]["ask"]
    assert book["point_camera"]["text"] == "Point the camera at the injured person"


TEMPLATE = """<!doctype html>
<html lang="en" dir="ltr" data-chosen="0" data-inapp="">
<head><title data-i18n="title">x</title></head>
<body><h1 id="t" data-i18n="consent_title">English</h1>
<video aria-label="old" data-i18n-aria="preview"></video>
<select><option value="en">English</option><option value="ar">العربية</option></select>
</body></html>"""


def test_the_page_is_rendered_in_the_language_with_its_strings():
    page = i18n.render_page(TEMPLATE, "ar", chosen=True, in_app='Face"book')
    assert '<html lang="ar" dir="rtl" data-chosen="1" data-inapp="Face&quot;book">' in page
    assert f'<h1 id="t" data-i18n="consent_title">{i18n.strings("ar")["consent_title"]}</h1>' in page
    assert f'aria-label="{i18n.strings("ar")["preview"]}"' in page
    assert '<option value="ar" selected>' in page
    data = re.search(r'<script type="application/json" id="strings">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data) == i18n.strings("ar")


def test_strings_cannot_break_out_of_the_page(monkeypatch):
    table = {**i18n.strings("en"), "consent_title": "<b>bold</b> & </script><script>alert(1)</script>"}
    monkeypatch.setattr(i18n, "strings", lambda language: table)
    page = i18n.render_page(TEMPLATE, "en", chosen=False)
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp;" in page
    block = re.search(r'id="strings">(.*?)</script>', page, re.S).group(1)
    assert "</script>" not in block and json.loads(block)["consent_title"] == table["consent_title"]
