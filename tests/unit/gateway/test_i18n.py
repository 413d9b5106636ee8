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
    assert [lang["code"] for lang in i18n.languages()] == list(i18n.LANGUAGES)


@pytest.mark.parametrize("language", [*i18n.LANGUAGES, None, "xx"])
def test_the_text_message_carries_the_link_and_the_sender_in_the_language(language):
    body = i18n.sms_text(language, "West Yorkshire Police", "https://gw.example/c/TOKEN")
    code = language if language in i18n.LANGUAGES else "en"
    template = i18n.strings(code)["sms"]
    expected = template.replace("{sender}", "West Yorkshire Police").replace("{url}", "https://gw.example/c/TOKEN")
    assert body.removeprefix("\u200f") == expected


def test_right_to_left_messages_start_with_a_right_to_left_mark():
    for language in i18n.LANGUAGES:
        body = i18n.sms_text(language, "West Yorkshire Police", "https://gw.example/c/TOKEN")
        if language in ("ar", "ur"):
            assert body.startswith("\u200fWest Yorkshire Police:"), language
        else:
            assert body.startswith("West Yorkshire Police:") and "\u200f" not in body, language
        # The mark comes from the language's direction, not from a character typed into a file.
        assert "\u200f" not in i18n.strings(language)["sms"]


def test_the_mark_follows_the_direction_of_the_language(monkeypatch):
    table = {**i18n.strings("pl"), "dir": "rtl"}
    monkeypatch.setattr(i18n, "strings", lambda language: table)
    assert i18n.sms_text("pl", "S", "https://u") == "\u200f" + table["sms"].replace("{sender}", "S").replace("{url}", "https://u")


def test_a_sender_name_is_not_taken_for_a_placeholder():
    body = i18n.sms_text("en", "Police {url}", "https://gw.example/c/T")
    assert body.startswith("Police {url}:") and body.count("https://gw.example/c/T") == 1


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
    assert '<html lang="ar" dir="rtl" data-chosen="1" data-inapp="Face&quot;book" data-mode="video">' in page
    assert f'<h1 id="t" data-i18n="consent_title">{i18n.strings("ar")["consent_title"]}</h1>' in page
    assert f'aria-label="{i18n.strings("ar")["preview"]}"' in page
    assert '<option value="ar" selected>' in page
    data = re.search(r'<script type="application/json" id="strings">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data) == i18n.strings("ar")


def test_a_location_only_page_says_so_and_words_its_consent_for_location_alone():
    page = i18n.render_page(TEMPLATE, "en", chosen=False, location_only=True)
    assert 'data-mode="location"' in page
    assert '<h1 id="t" data-i18n="consent_title">Show the control room where you are</h1>' in page
    data = json.loads(re.search(r'id="strings">(.*?)</script>', page, re.S).group(1))
    assert data["consent_title"] == "Show the control room where you are"
    assert data["allow_note"] == "Your phone will ask to use your location. Please tap Allow."


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_location_only_wording_replaces_a_string_and_exists_in_every_language(language):
    english = {k for k in i18n.strings("en") if k.endswith(i18n.LOCATION_SUFFIX)}
    assert english >= {"sms_location_only", "consent_title_location_only", "allow_note_location_only"}
    table = i18n.strings(language)
    for key in english:
        base = key.removesuffix(i18n.LOCATION_SUFFIX)
        assert isinstance(table.get(key), str) and table[key] != table[base], (language, key)


def test_strings_cannot_break_out_of_the_page(monkeypatch):
    table = {**i18n.strings("en"), "consent_title": "<b>bold</b> & </script><script>alert(1)</script>"}
    monkeypatch.setattr(i18n, "strings", lambda language: table)
    page = i18n.render_page(TEMPLATE, "en", chosen=False)
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp;" in page
    block = re.search(r'id="strings">(.*?)</script>', page, re.S).group(1)
    assert "</script>" not in block and json.loads(block)["consent_title"] == table["consent_title"]


# -- what a careful review of every language found -------------------------------------------


def test_a_hiding_caller_is_told_to_make_no_sound_not_to_stay_calm():
    # «التزم الهدوء» and «cadwch yn dawel» read as "stay calm" as often as "keep quiet".
    assert i18n.phrase_text("ar", "stay_hidden") == "ابقَ مختبئًا ولا تُصدِر أي صوت"
    assert i18n.phrase_text("cy", "stay_hidden") == "Arhoswch o'r golwg a pheidiwch â gwneud sŵn"
    assert "الهدوء" not in i18n.phrase_text("ar", "stay_hidden")
    assert "dawel" not in i18n.phrase_text("cy", "stay_hidden")


# The buttons iOS, Chrome and Samsung Internet show. Phones offer no Welsh, Urdu or Punjabi menus
# to most of their speakers, so those languages name the English button (Welsh adds a gloss).
BUTTONS = ("Website Settings", "Permissions", "Allow", "Privacy & Security", "Location Services", "Safari Websites")
WELSH_ONLY = ("Gosodiadau Gwefan", "Caniatáu", "Caniatâd", "Gwasanaethau Lleoliad", "Gwefannau Safari")
HELP_KEYS = [k for k in i18n.strings("en") if k.startswith("help_") or k == "allow_note"]


@pytest.mark.parametrize("language", ["cy", "ur", "pa"])
def test_help_names_the_buttons_as_the_phone_shows_them(language):
    english, table = i18n.strings("en"), i18n.strings(language)
    named = 0
    for key in HELP_KEYS:
        for button in BUTTONS:
            if re.search(rf"\b{re.escape(button)}\b", english[key]):
                assert button in table[key], (language, key, button)
                named += 1
    assert named >= 12  # the English strings name a dozen buttons; the check is not vacuous


def test_welsh_button_names_are_only_glosses_after_the_english():
    table = i18n.strings("cy")
    assert "Website Settings (Gosodiadau Gwefan)" in table["help_camera_ios"]
    assert "Allow (Caniatáu)" in table["allow_note"]
    assert (
        "Location Services (Gosodiadau > Preifatrwydd a Diogelwch > Gwasanaethau Lleoliad)"
        in table["help_location_ios"]
    )
    for key in HELP_KEYS:
        outside_brackets = re.sub(r"\([^()]*\)", "", table[key])
        for welsh in WELSH_ONLY:
            assert welsh not in outside_brackets, (key, welsh)


@pytest.mark.parametrize(
    "language, key, wording",
    [
        (
            "pl",
            "help_location_ios",
            "Sprawdź, czy opcja Ustawienia > Prywatność i ochrona > Usługi lokalizacji jest włączona",
        ),
        ("pl", "loc_unavailable", "Nadal próbujemy…"),
        ("ro", "title", "Transmiteți imaginea camerei către dispeceratul 999"),
        ("ro", "sharing_title", "Se transmite către dispecerat"),
        ("ar", "stay_note", "يكفي أن تُخبر موظف الطوارئ بذلك"),
        ("ar", "consent_lead", "طلب موظف الطوارئ (999) الذي تتحدث معه أن يرى مكانك."),
        ("ar", "torch_on", "الكشاف"),
        ("ar", "torch_off", "الكشاف"),
        ("ur", "help_coming", "مدد آ رہی ہے"),
        ("pa", "help_coming", "ਮਦਦ ਆ ਰਹੀ ਹੈ"),
        ("ur", "hold_still", "فون کو ہلائے بغیر پکڑے رکھیں"),
        ("pa", "discreet", "ਸਕ੍ਰੀਨ ਕਾਲੀ ਕਰੋ"),
    ],
)
def test_the_reviewed_wordings_are_kept(language, key, wording):
    table = i18n.strings(language)
    assert wording in (table["phrases"][key] if key in table["phrases"] else table[key])


def test_a_clock_time_has_no_oclock_word():
    # {time} is hh:mm:ss: «بجے» / «ਵਜੇ» ("o'clock") does not belong with it.
    assert "بجے" not in i18n.strings("ur")["loc_shared"] and "ਵਜੇ" not in i18n.strings("pa")["loc_shared"]


def test_polish_says_tap_everywhere():
    table = i18n.strings("pl")
    assert not [k for k, v in table.items() if isinstance(v, str) and "klik" in v.lower()]


SCRIPTS = {"ar": r"[\u0600-\u06ff]", "ur": r"[\u0600-\u06ff]", "pa": r"[\u0a00-\u0a7f]"}


def _texts(table):
    for key, value in table.items():
        if key == "phrases":
            yield from ((f"phrases.{k}", v) for k, v in value.items())
        elif isinstance(value, str) and key not in ("lang", "dir"):
            yield key, value


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_999_and_the_script_are_kept_in_every_string(language):
    english = dict(_texts(i18n.strings("en")))
    for key, text in _texts(i18n.strings(language)):
        if "999" in english[key]:
            assert "999" in text, (language, key)
        if language in SCRIPTS:
            assert re.search(SCRIPTS[language], text), (language, key)
