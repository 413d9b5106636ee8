"""The caller's languages: one strings file per language, the SMS text, the phrase book, and the
caller page rendered in the chosen language.

The strings live in ``web_client/caller/i18n/{code}.json``, one file per language, read by both the
gateway (the SMS and the page's first paint) and the caller page (everything it says later). Pure:
files in, text out.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .share import WEB_CLIENT

STRINGS_DIR = WEB_CLIENT / "caller" / "i18n"

# English, Welsh, then the languages most spoken in the UK after them, in that order.
LANGUAGES = ("en", "cy", "pl", "ur", "pa", "ar", "ro")
DEFAULT = "en"

# Phrases that ask a question: the caller page shows its yes / no buttons with them.
QUESTIONS = frozenset({"can_talk", "are_safe", "breathing"})

MAX_TEXT = 280

# RIGHT-TO-LEFT MARK. A text message in Arabic or Urdu opens with the sender's name, which is in
# Latin letters: a messaging app takes the paragraph's direction from its first strong character,
# so without this mark it lays the whole message out left to right and the sentence, the colon and
# the link come out in a confusing order.
RLM = "\u200f"
# A string with this suffix replaces the string without it on a location-only link's page and
# text ("consent_title_location_only" for "consent_title"): the wording never promises the camera.
LOCATION_SUFFIX = "_location_only"

_SMS_PLACEHOLDER = re.compile(r"\{(sender|url)\}")


class UnknownLanguage(ValueError):
    pass


class UnknownPhrase(KeyError):
    pass


@lru_cache(maxsize=len(LANGUAGES))
def strings(language: str) -> Mapping[str, Any]:
    if language not in LANGUAGES:
        raise UnknownLanguage(f"no strings for language {language!r}")
    with open(STRINGS_DIR / f"{language}.json", encoding="utf-8") as fh:
        return json.load(fh)


def check_language(value: Any) -> str | None:
    """A language the handler may choose: a code such as ``cy`` or ``cy-GB``; None means the phone's."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UnknownLanguage("language must be a language code such as 'cy'")
    code = value.strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGUAGES:
        raise UnknownLanguage(f"language {value!r} is not one of {', '.join(LANGUAGES)}")
    return code


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an ``Accept-Language`` header (the phone's own list)."""
    best: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        m = re.search(r"q=([^;,\s]*)", params)
        if m:
            try:
                quality = float(m.group(1))
            except ValueError:
                continue
        code = tag.strip().lower().split("-")[0]
        if code in LANGUAGES and quality > 0:
            best.append((-quality, position, code))
    return min(best)[2] if best else DEFAULT


def direction(language: str) -> str:
    return "rtl" if strings(language).get("dir") == "rtl" else "ltr"


def languages() -> list[dict[str, str]]:
    return [{"code": c, "name": strings(c)["name"], "dir": direction(c)} for c in LANGUAGES]


def sms_text(language: str | None, sender_name: str, url: str, mode: str = "video") -> str:
    """The link's text message in ``language`` (English when None or unknown).

    A location-only link (``mode`` "location") has its own wording, which asks for the location
    alone: the caller is not to be told the camera will be used.

    A right-to-left language's message starts with :data:`RLM`: the mark belongs to the language's
    direction, not to its strings file.
    """
    try:
        code = check_language(language) or DEFAULT
    except UnknownLanguage:
        code = DEFAULT
    values = {"sender": sender_name, "url": url}
    # One pass, so a sender name that happens to contain "{url}" stays as it is.
    template = strings(code)["sms" + LOCATION_SUFFIX if mode == "location" else "sms"]
    text = _SMS_PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    return RLM + text if direction(code) == "rtl" else text


def phrase_keys() -> list[str]:
    return list(strings(DEFAULT)["phrases"])


def phrase_text(language: str, key: str) -> str:
    phrases = strings(language)["phrases"]
    if key not in phrases:
        raise UnknownPhrase(key)
    return phrases[key]


def phrase_book() -> list[dict[str, Any]]:
    """Every phrase in English, for the handler's console, with whether it asks yes or no."""
    return [{"key": k, "text": phrase_text(DEFAULT, k), "ask": k in QUESTIONS} for k in phrase_keys()]


# -- the caller page ---------------------------------------------------------------------------

_TAG = re.compile(r"<[a-zA-Z][^<>]*>")
_TEXT = re.compile(
    r'(<(?P<tag>[a-zA-Z0-9]+)\b[^<>]*\bdata-i18n="(?P<key>\w+)"[^<>]*>)[^<]*(</(?P=tag)>)'
)
_ATTRS = {"data-i18n-aria": "aria-label", "data-i18n-ph": "placeholder"}


def render_page(
    template: str, language: str, *, chosen: bool, in_app: str | None = None, location_only: bool = False
) -> str:
    """The caller page's HTML in ``language``: text, labels, ``lang``/``dir``, and its strings.

    Elements marked ``data-i18n="key"`` get the string as their text; ``data-i18n-aria`` and
    ``data-i18n-ph`` fill ``aria-label`` and ``placeholder``. The language's strings go into the page
    as a JSON data block (not a script: the CSP allows none inline), so the page needs no second
    request for them. ``chosen`` says the handler picked the language (the page keeps it) rather
    than the phone's settings (the page may check them again). ``location_only`` renders the
    page of a location-only link: its location wordings replace the ones that mention the camera,
    and ``data-mode="location"`` tells the page's script never to ask for the camera.
    """
    table = strings(language)
    if location_only:
        table = location_only_strings(table)

    def text(m: re.Match) -> str:
        value = table.get(m.group("key"))
        if not isinstance(value, str):
            return m.group(0)
        return f"{m.group(1)}{html.escape(value, quote=False)}{m.group(4)}"

    def attrs(m: re.Match) -> str:
        tag = m.group(0)
        for marker, attribute in _ATTRS.items():
            found = re.search(rf'\b{marker}="(\w+)"', tag)
            if found and isinstance(table.get(found.group(1)), str):
                value = html.escape(table[found.group(1)])
                # A function, not a template: translated text may hold backslashes.
                tag = re.sub(rf'\b{attribute}="[^"]*"', functools.partial(_constant, f'{attribute}="{value}"'), tag)
        return tag

    page = _TEXT.sub(text, template)
    page = _TAG.sub(attrs, page)
    root = (
        f'<html lang="{language}" dir="{direction(language)}" data-chosen="{int(chosen)}"'
        f' data-inapp="{html.escape(in_app or "")}" data-mode="{"location" if location_only else "video"}">'
    )
    page = re.sub(r"<html\b[^>]*>", lambda _: root, page, count=1)
    page = page.replace(f'<option value="{language}">', f'<option value="{language}" selected>', 1)
    data = json.dumps(table, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return page.replace("</head>", f'<script type="application/json" id="strings">{data}</script>\n</head>', 1)


def location_only_strings(table: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` with each string that has a location-only wording replaced by that wording."""
    out = dict(table)
    for key, value in table.items():
        if key.endswith(LOCATION_SUFFIX) and key[: -len(LOCATION_SUFFIX)] in table:
            out[key[: -len(LOCATION_SUFFIX)]] = value
    return out


def _constant(text: str, _match: re.Match[str]) -> str:
    return text
