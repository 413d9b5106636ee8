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
