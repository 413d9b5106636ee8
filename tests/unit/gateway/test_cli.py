"""The command line manages operators and tokens; secrets are read from stdin or printed once."""

import asyncio
import io

import pytest

from gateway.__main__ import main
from gateway.auth import digest, verify_password
from gateway.record import Accounts, Database


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENELINK_DATA_DIR", str(tmp_path))
    return tmp_path


def lookup(data_dir, fn):
    async def run():
        db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'scenelink.db'}")
        try:
            return await fn(Accounts(db))
        finally:
            await db.close()
    return asyncio.run(run())


def test_users_add_reads_the_password_from_stdin_and_stores_only_its_hash(data_dir, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "alice", "--role", "handler"]) == 0
    user = lookup(data_dir, lambda a: a.operator_by_name("alice"))
    assert user["role"] == "handler"
    assert "a long enough password" not in user["password_hash"]
    assert verify_password(user["password_hash"], "a long enough password")


def test_users_add_refuses_weak_passwords_unknown_roles_and_duplicates(data_dir, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "bob", "--role", "handler"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "bob", "--role", "chief"]) == 2
    assert "unknown role" in capsys.readouterr().err
    for expected in (0, 1):
        monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
        assert main(["users", "add", "bob", "--role", "dispatcher"]) == expected
    assert "already exists" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "x" * 65, "--role", "handler"]) == 2  # the database would refuse it
    assert "1 to 64" in capsys.readouterr().err


def test_tokens_create_prints_the_token_once_and_stores_its_digest(data_dir, capsys):
    assert main(["tokens", "create", "cad", "--role", "handler"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("slk_")
    stored = lookup(data_dir, lambda a: a.token_by_hash(digest(token)))
    assert stored["name"] == "cad" and stored["role"] == "handler"


def add_user(name: str, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", name, "--role", "handler"]) == 0


def test_users_can_be_listed_disabled_enabled_reset_and_signed_out(data_dir, monkeypatch, capsys):
    from datetime import timedelta

    from gateway.record.database import utcnow

    add_user("carol", monkeypatch)
    operator_id = lookup(data_dir, lambda a: a.operator_by_name("carol"))["id"]
    for session in ("s1", "s2"):
        lookup(
            data_dir,
            lambda a, s=session: a.add_web_session(digest(s), operator_id, "c" * 32, utcnow() + timedelta(hours=1)),
        )
    capsys.readouterr()
    assert main(["users", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["username", "role", "created_at", "disabled_at", "must_change_password", "sessions"]
    (row,) = [line.split() for line in listing[1:] if line.startswith("carol")]
    assert row[1] == "handler" and row[3] == "-" and row[4] == "False" and row[5] == "2"

    assert main(["users", "logout", "carol"]) == 0
    assert "2 session(s) of 'carol' ended" in capsys.readouterr().out
    assert lookup(data_dir, lambda a: a.web_session(digest("s1"))) is None

    assert main(["users", "disable", "carol"]) == 0
    assert lookup(data_dir, lambda a: a.operator_by_name("carol"))["disabled_at"] is not None
    assert main(["users", "enable", "carol"]) == 0
    assert lookup(data_dir, lambda a: a.operator_by_name("carol"))["disabled_at"] is None

    capsys.readouterr()
    assert main(["users", "reset-password", "carol"]) == 0
    out = capsys.readouterr()
    one_time = out.out.strip()
    assert len(one_time) >= 12 and "shown once" in out.err
    carol = lookup(data_dir, lambda a: a.operator_by_name("carol"))
    assert carol["must_change_password"] and verify_password(carol["password_hash"], one_time)
    assert not verify_password(carol["password_hash"], "a long enough password")

    assert main(["users", "disable", "nobody"]) == 1
    assert "no operator named 'nobody'" in capsys.readouterr().err
    entries = lookup(data_dir, lambda a: a.db.audit_entries())
    assert [e["action"] for e in entries if e["actor"] == "cli"] == [
        "operator.added", "sessions.ended", "operator.disabled", "operator.enabled", "password.reset",
    ]


def test_tokens_expire_are_listed_without_secrets_and_revoked(data_dir, capsys):
    assert main(["tokens", "create", "cad", "--role", "dispatcher", "--expires-days", "30"]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["tokens", "create", "wall", "--role", "dispatcher"]) == 0
    capsys.readouterr()
    found = lookup(data_dir, lambda a: a.token_by_hash(digest(token)))
    assert found["name"] == "cad" and found["expires_at"] is not None
    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert token not in listing and digest(token) not in listing
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[1:]}
    assert set(rows) == {"cad", "wall"} and rows["cad"][-1] == "True" and rows["wall"][3] == "-"
    assert main(["tokens", "revoke", "cad"]) == 0
    assert lookup(data_dir, lambda a: a.token_by_hash(digest(token))) is None
    assert main(["tokens", "revoke", "cad"]) == 1  # already revoked
    assert main(["tokens", "create", "x", "--role", "handler", "--expires-days", "0"]) == 2


def test_everything_the_command_writes_is_private_whatever_the_shells_umask(tmp_path):
    import os
    import stat
    import subprocess
    import sys
    from pathlib import Path

    data = tmp_path / "data"
    env = {**os.environ, "SCENELINK_DATA_DIR": str(data)}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "users", "add", "carol", "--role", "handler"],
        input=b"a long enough password\n", env=env, capture_output=True, timeout=120,
        cwd=Path(__file__).resolve().parents[3], preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    written = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "scenelink.db" for p in written)
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
