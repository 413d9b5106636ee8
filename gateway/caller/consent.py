"""What a caller agreed to: the consent screen's text, named by language and a version.

The version is the first 16 hex digits of the SHA-256 of the canonical JSON of the consent
screen's strings in that language, so a change to any word of it is a new version, and the
record can say which text the caller saw without storing the text with every incident.
"""

from __future__ import annotations

from typing import Any

from ..i18n import DEFAULT, LANGUAGES, strings
from ..record.chain import canonical, sha256_hex

# The strings on the caller page's consent screen (web_client/caller/index.html, #screen-consent).
CONSENT_KEYS = (
    "consent_title", "consent_lead", "what_label", "what_text", "who_label", "who_text",
    "control_label", "control_text", "allow_note", "stay_note", "start",
)


def consent_text(language: str) -> dict[str, str]:
    table = strings(language)
    return {key: str(table.get(key, "")) for key in CONSENT_KEYS}


def consent_version(language: str) -> str:
    return sha256_hex(canonical(consent_text(language)))[:16]


def consent_record(language: Any) -> dict[str, str]:
    """The language and text version to record for a consent given on a page in ``language``."""
    code = language if isinstance(language, str) and language in LANGUAGES else DEFAULT
    return {"language": code, "text_version": consent_version(code)}


def consent_detail(language: Any) -> str:
    """The consent as the link's state history says it (its digest ties it to the chain)."""
    record = consent_record(language)
    return f"consent text {record['text_version']} in {record['language']}"
