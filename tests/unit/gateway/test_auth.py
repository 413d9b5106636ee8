"""Passwords are argon2-hashed; roles grant exactly what the API documents."""

import pytest

from gateway.auth import (
    Permission,
    check_password_strength,
    digest,
    hash_password,
    may,
    new_api_token,
    parse_role,
    verify_password,
)


def test_a_password_verifies_against_its_argon2_hash_and_nothing_else():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "Correct horse battery")
    assert not verify_password("not-a-hash", "anything")


def test_short_passwords_are_refused():
    with pytest.raises(ValueError):
        check_password_strength("short")


@pytest.mark.parametrize("role,permission,allowed", [
    ("handler", Permission.ACT, True),
    ("handler", Permission.AUDIT, False),
    ("dispatcher", Permission.READ, True),
    ("dispatcher", Permission.ACT, False),
    ("supervisor", Permission.AUDIT, True),
    ("admin", Permission.MANAGE, True),
    ("nobody", Permission.READ, False),
])
def test_roles_grant_what_the_api_documents(role, permission, allowed):
    assert may(role, permission) is allowed


def test_unknown_roles_are_named_in_the_error():
    with pytest.raises(
        ValueError, match="handler, dispatcher, supervisor or admin|handler, dispatcher, supervisor, admin"
    ):
        parse_role("boss")


def test_api_tokens_are_prefixed_random_and_stored_as_digests():
    a, b = new_api_token(), new_api_token()
    assert a != b and a.startswith("slk_")
    assert digest(a) != a and len(digest(a)) == 64
