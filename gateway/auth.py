"""Operators' credentials and roles: argon2 password hashes, bearer tokens, what each role may do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

TOKEN_PREFIX = "slk_"
MIN_PASSWORD_LENGTH = 12


class Role(StrEnum):
    HANDLER = "handler"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # A bearer token for the network's AML feed: it may hand in AML messages and do nothing else.
    AML = "aml"


class Permission(StrEnum):
    READ = "read"          # incidents, fixes, snapshots, live video and events
    ACT = "act"            # create incidents, send links, take snapshots, end sessions
    AUDIT = "audit"        # read the audit log
    MANAGE = "manage"      # operators and tokens
    AML_IN = "aml_in"      # hand in Advanced Mobile Location messages


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.HANDLER: frozenset({Permission.READ, Permission.ACT}),
    Role.DISPATCHER: frozenset({Permission.READ}),
    Role.SUPERVISOR: frozenset({Permission.READ, Permission.ACT, Permission.AUDIT}),
    Role.ADMIN: frozenset(Permission),
    Role.AML: frozenset({Permission.AML_IN}),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; choose one of {names}") from None


# The length of operators.username and api_tokens.name: PostgreSQL refuses a longer one.
MAX_NAME = 64


def check_name(value: str, what: str = "name") -> str:
    """An operator's or a token's name: 1 to 64 printable characters, no spaces at either end."""
    if not value or len(value) > MAX_NAME or value != value.strip() or not value.isprintable():
        raise ValueError(f"the {what} must be 1 to {MAX_NAME} printable characters")
    return value


def may(role: str, permission: Permission) -> bool:
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so that a wrong username costs as much
# time as a wrong password and timing does not reveal which names exist.
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Tokens and session ids are high-entropy, so a plain SHA-256 is the right stored form."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
