"""TURN REST API credentials: what coturn's use-auth-secret checks, built here by hand.

The expected values follow the construction in draft-uberti-behave-turn-rest-00 ("username =
expiry timestamp : user id"; "password = base64(HMAC-SHA1(secret, username))"), computed in the
test with the standard library rather than taken from gateway.turn.
"""

import base64
import hashlib
import hmac

import pytest

from gateway.turn import (
    MIN_LIFETIME_SECONDS,
    TurnCredentialError,
    credential_expiry,
    credential_for,
    mint,
    username_expiry,
)

SECRET = b"north-yorkshire-turn-secret"


def by_hand(secret: bytes, username: str) -> str:
    mac = hmac.new(secret, msg=username.encode(), digestmod="sha1")
    return base64.standard_b64encode(mac.digest()).decode()


def test_the_credential_is_base64_of_hmac_sha1_of_the_username():
    username = "1700000600:link-42"
    assert credential_for(SECRET, username) == by_hand(SECRET, username)
    # A known answer, from Python's hashlib by another route (hashlib.pbkdf2 is not it: plain HMAC
    # built from its definition, H((K ^ opad) || H((K ^ ipad) || m)) with a 64-byte block).
    key = SECRET.ljust(64, b"\0")
    inner = hashlib.sha1(bytes(k ^ 0x36 for k in key) + username.encode()).digest()
    outer = hashlib.sha1(bytes(k ^ 0x5C for k in key) + inner).digest()
    assert credential_for(SECRET, username) == base64.b64encode(outer).decode()
    assert len(base64.b64decode(credential_for(SECRET, username))) == 20


def test_mint_puts_the_expiry_first_and_signs_the_whole_username():
    cred = mint(SECRET, "link-inc7-ab12cd34", 1_800_000_000)
    assert cred.username == "1800000000:link-inc7-ab12cd34"
    assert cred.credential == by_hand(SECRET, "1800000000:link-inc7-ab12cd34")
    assert cred.expires_at == 1_800_000_000
    assert username_expiry(cred.username) == 1_800_000_000
    assert cred.credential not in repr(cred)


def test_another_secret_or_another_username_gives_another_credential():
    a = mint(SECRET, "link-1", 1_800_000_000)
    assert mint(b"rotated-secret", "link-1", 1_800_000_000).credential != a.credential
    assert mint(SECRET, "link-1", 1_800_000_001).credential != a.credential
    assert mint(SECRET, "link-2", 1_800_000_000).credential != a.credential


def test_a_credential_lives_its_lifetime_but_never_past_what_it_is_for():
    assert credential_expiry(1000.4, 600) == 1600
    assert credential_expiry(1000, 600, not_after=1300) == 1300, "the link ends first"
    assert credential_expiry(1000, 600, not_after=5000) == 1600


def test_no_credential_when_too_little_time_is_left():
    with pytest.raises(TurnCredentialError):
        credential_expiry(1000, 600, not_after=1000 + MIN_LIFETIME_SECONDS - 1)
    with pytest.raises(TurnCredentialError):
        credential_expiry(1000, 600, not_after=900)
    with pytest.raises(TurnCredentialError):
        credential_expiry(1000, MIN_LIFETIME_SECONDS - 1)


@pytest.mark.parametrize("opaque", ["", "a:b", "has space", "x" * 65, "é"])
def test_an_opaque_id_that_would_confuse_the_username_is_refused(opaque):
    with pytest.raises(TurnCredentialError):
        mint(SECRET, opaque, 1_800_000_000)


def test_an_empty_secret_is_refused():
    with pytest.raises(TurnCredentialError):
        mint(b"", "link-1", 1_800_000_000)


def test_usernames_without_an_expiry_have_none():
    assert username_expiry("alice") is None
    assert username_expiry("soon:alice") is None
