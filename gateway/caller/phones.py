"""Callers' mobile numbers: parsed, checked and normalised to E.164 before anything is sent."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

DEFAULT_REGION = "GB"
_MOBILE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class PhoneError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalise_mobile(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the number in E.164 form, or raise :class:`PhoneError` saying what is wrong."""
    if not isinstance(raw, str) or not raw.strip():
        raise PhoneError("invalid_phone", "enter the caller's mobile number")
    if len(raw) > 32:
        raise PhoneError("invalid_phone", "that is too long to be a phone number")
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        raise PhoneError("invalid_phone", f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("invalid_phone", "that is not a valid phone number")
    if phonenumbers.number_type(number) not in _MOBILE:
        raise PhoneError("not_mobile", "that is not a mobile number, so it cannot receive a text")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
