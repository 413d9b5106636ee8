"""The "link cannot be used" page: one per language, filled in and escaped."""

import html
import re

import pytest

from gateway import i18n
from gateway.web.caller import unusable_page


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_language_has_a_whole_refusal_page(language):
    page = unusable_page(language)
    table = i18n.strings(language)
    direction = "rtl" if language in ("ar", "ur") else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in page
    assert f"<title>{html.escape(table['unusable_title'])}</title>" in page
    assert f"<h1>{html.escape(table['unusable_title'])}</h1>" in page
    assert (
        f"<p>{html.escape(table['unusable_why'])}</p>" in page
        and f"<p>{html.escape(table['unusable_next'])}</p>" in page
    )
    assert not re.search(r"\{\w+\}", page), "every placeholder filled"


def test_the_welsh_apostrophes_are_escaped_not_dropped():
    assert "<h1>Does dim modd defnyddio&#x27;r ddolen hon</h1>" in unusable_page("cy")
