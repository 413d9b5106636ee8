"""Callers' numbers are validated and normalised before any text is sent."""

import pytest

from gateway.caller.phones import PhoneError, normalise_mobile


@pytest.mark.parametrize("raw", ["07400 123456", "+44 7400 123456", "0044 7400 123456", "(07400) 123-456"])
def test_uk_mobile_numbers_in_any_common_form_become_e164(raw):
    assert normalise_mobile(raw) == "+447400123456"


def test_a_foreign_mobile_in_international_form_is_accepted():
    assert normalise_mobile("+33 6 12 34 56 78") == "+33612345678"


@pytest.mark.parametrize("raw,code", [
    ("0113 496 0000", "not_mobile"),
    ("999", "invalid_phone"),
    ("", "invalid_phone"),
    ("call me", "invalid_phone"),
    ("0" * 40, "invalid_phone"),
])
def test_numbers_that_cannot_receive_a_text_are_refused_with_a_reason(raw, code):
    with pytest.raises(PhoneError) as err:
        normalise_mobile(raw)
    assert err.value.code == code
    assert str(err.value)
