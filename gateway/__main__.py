"""The ``scenelink`` command: serve, migrate the record, manage operators and tokens, place positions,
check boundaries."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .commands import basemap, boundaries, db, geocode
from .config import ConfigError, Settings, load_settings, with_database


def main(argv: list[str] | None = None) -> int:
    # Everything the gateway writes (the record, blobs, recordings, the outbox, certificates) is
    # for its own user only: files 0600, folders 0700, whatever the shell's umask.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="scenelink", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: samples/scenelink.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.set_defaults(func=_serve)

    users = sub.add_parser("users", help="manage operators").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="add an operator; the password is read from standard input")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="handler, dispatcher, supervisor or admin")
    add.set_defaults(func=_users_add)
    users.add_parser("list", help="list operators, their roles, state and open sessions").set_defaults(
        func=_users_list
    )
    for action, text in (
        ("disable", "disable an operator and end their sessions"),
        ("enable", "enable a disabled operator again"),
        ("reset-password", "set a one-time password (printed once) that must be changed; ends their sessions"),
        ("logout", "end every session of an operator"),
    ):
        command = users.add_parser(action, help=text)
        command.add_argument("name")
        command.set_defaults(func=_users_change, change=action)

    tokens = sub.add_parser("tokens", help="manage API tokens for machine clients").add_subparsers(
        dest="action", required=True
    )
    create = tokens.add_parser("create", help="create a bearer token and print it once")
    create.add_argument("name")
    create.add_argument(
        "--role", required=True,
        help="handler, dispatcher, supervisor, admin, or aml (an AML feed: hands in AML messages only)",
    )
    create.add_argument("--expires-days", type=int, help="the token stops working after this many days")
    create.set_defaults(func=_tokens_create)
    tokens.add_parser("list", help="list tokens (names, roles, expiry; never the secrets)").set_defaults(
        func=_tokens_list
    )
    revoke = tokens.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=_tokens_revoke)

    embeds = sub.add_parser("embeds", help="list and withdraw embedded live views").add_subparsers(
        dest="action", required=True
    )
    listing = embeds.add_parser("list", help="list embed links (by id; never the tokens)")
    listing.add_argument("--incident", help="only this incident's")
    listing.set_defaults(func=_embeds_list)
    withdraw = embeds.add_parser("revoke", help="withdraw one embed link, or all of an incident's")
    which = withdraw.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="the embed's id from `scenelink embeds list`")
    which.add_argument("--incident", help="every embed link of this incident")
    withdraw.set_defaults(func=_embeds_revoke)

    verify = sub.add_parser("verify-bundle", help="check an exported evidence bundle")
    verify.add_argument("bundle", type=Path)
    verify.add_argument("--public-key", type=Path, metavar="FILE",
                        help="the gateway's public key (PEM, from `scenelink keys public`), kept apart from"
                             " the gateway:"
                             " checks the signed checkpoints, so a rebuilt or shortened chain is found")
    verify.set_defaults(func=_verify_bundle)

    check = sub.add_parser(
        "verify", help="check the stored audit chain end to end, and every signed checkpoint against it"
    )
    check.add_argument("--public-key", type=Path, metavar="FILE",
                       help="the public key to check signatures with (PEM; default: the gateway's own key)")
    check.set_defaults(func=_verify_record)

    db.add_parser(sub)

    keys = sub.add_parser("keys", help="the key that signs the audit chain").add_subparsers(
        dest="action", required=True
    )
    public = keys.add_parser("public", help="print the public key (PEM) for verify-bundle --public-key")
    public.set_defaults(func=_keys_public)

    retention = sub.add_parser("retention", help="what the retention purge removes").add_subparsers(
        dest="action", required=True
    )
    retention.add_parser("report", help="say what the next purge would remove, and why").set_defaults(
        func=_retention_report
    )
    retention.add_parser("purge", help="purge now what is due (held incidents are left alone)").set_defaults(
        func=_retention_purge
    )

    geocode.add_parser(sub)
    basemap.add_parser(sub)
    boundaries.add_parser(sub)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"scenelink: configuration error: {exc}", file=sys.stderr)
        return 2


def _settings(args: argparse.Namespace) -> Settings:
    return with_database(load_settings(args.config))


def _serve(args: argparse.Namespace) -> int:
    import logging
    import socket

    from .app import build_app
    from .tls import ensure_self_signed, server_context
    from .web.access_log import MaskedAccessLogger
    from .web.serving import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    settings = _settings(args)
    ssl_context = None
    if settings.tls == "self-signed":
        names = [urlsplit(settings.public_url).hostname or "localhost", "localhost", "127.0.0.1", socket.gethostname()]
        if settings.host not in ("0.0.0.0", "::"):
            names.append(settings.host)
        cert, key = ensure_self_signed(settings.data_dir / "tls", names)
        ssl_context = server_context(cert, key)
    elif settings.tls == "files":
        assert settings.tls_cert and settings.tls_key
        ssl_context = server_context(settings.tls_cert, settings.tls_key)
    app = build_app(settings)
    print(f"scenelink: serving on {settings.public_url} (data in {settings.data_dir})", flush=True)
    serve(app, settings.host, settings.port, ssl_context, settings.max_connections, MaskedAccessLogger,
          settings.event_loop)
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    from .exports.bundle import verify_bundle
    from .record.signing import load_public_key

    try:
        data = args.bundle.read_bytes()
        key = load_public_key(args.public_key.read_bytes()) if args.public_key else None
    except (OSError, ValueError) as exc:
        print(f"scenelink: {exc}", file=sys.stderr)
        return 2
    report = verify_bundle(data, key)
    for note in report.notes:
        print(f"note     {note}")
    for problem in report.problems:
        print(f"PROBLEM  {problem}")
    print(f"{report.files_checked} file(s), {report.items_checked} item(s) checked;"
          f" audit chain entry {report.audit_seq}, head {report.audit_head}")
    if report.signed_head:
        print("the chain's head is signed by the given key")
    print("bundle verified: unaltered" if report.ok else "bundle NOT verified")
    return 0 if report.ok else 1


def _verify_record(args: argparse.Namespace) -> int:
    """Every entry from the first, every checkpoint: what an export does only since its last
    trusted checkpoint."""
    import asyncio

    from .record import Database
    from .record.signing import key_id, load_public_key
    from .record.verification import ChainBroken, check_stored_chain

    settings = _settings(args)
    try:
        if args.public_key:
            public_key = load_public_key(args.public_key.read_bytes())
        elif settings.signing_key_path.exists():
            from .record.signing import load_or_create_key

            public_key = load_or_create_key(settings.signing_key_path).public_key()
        else:
            public_key = None
    except (OSError, ValueError) as exc:
        print(f"scenelink: {exc}", file=sys.stderr)
        return 2
    if public_key is None:
        print(f"note     no signing key at {settings.signing_key_path}: signatures are not checked")
    else:
        print(f"checking signatures with key {key_id(public_key)}")

    async def run() -> int:
        db = await Database.open(settings.database_url, migrate=False)
        try:
            head = await db.head()
            total = head["seq"] if head else 0
            print(f"checking {total:,} entries from the first", flush=True)
            done = await check_stored_chain(
                db, public_key, progress=lambda seq: print(f"  {seq:,} of {total:,} entries checked", flush=True)
            )
        except ChainBroken as exc:
            print(f"PROBLEM  {exc}")
            print("audit chain NOT verified")
            return 1
        finally:
            await db.close()
        if done.notes:
            print(f"note     {len(done.notes)} checkpoint(s) signed with another key: compared by hash only")
        print(f"audit chain verified: {done.seq:,} entries, head {done.checker.prev}; "
              f"{done.checkpoints} signed checkpoint(s) agree with it")
        return 0

    return asyncio.run(run())


def _with_retention(args: argparse.Namespace, action):
    import asyncio

    from .record import BlobStore, Database
    from .record.purge import Retention

    settings = _settings(args)

    async def run():
        db = await Database.open(settings.database_url)
        try:
            return await action(
                Retention(db, BlobStore(settings.blob_dir), settings.retention, settings.outbox_dir)
            )
        finally:
            await db.close()

    return asyncio.run(run())


def _retention_report(args: argparse.Namespace) -> int:
    lines = _with_retention(args, lambda retention: retention.report())
    if not lines:
        print("nothing left to purge: no ended incident holds contents")
    for line in lines:
        left = ", ".join(f"{n} {kind}" for kind, n in line["left"].items() if n)
        print(f"{line['reference']} ({line['incident']}), ended {line['ended_at']}: {left}")
        if "held" in line:
            held = line["held"]
            print(f"  under legal hold since {held['at']} by {held['by']}: {held['reason']} (never purged while held)")
        for due in line["due"]:
            print(f"  due now: {due['items']} {due['kind']} ({due['why']}; due since {due['since']})")
        if "next" in line:
            print(f"  next: {line['next']['kind']} at {line['next']['at']}")
    return 0


def _retention_purge(args: argparse.Namespace) -> int:
    done = _with_retention(args, lambda retention: retention.purge(actor="cli"))
    for result in done:
        print(f"purged {result.items} {result.kind} of {result.incident_id}")
    print(f"{len(done)} purge(s); hashes stay in the audit chain")
    return 0


def _keys_public(args: argparse.Namespace) -> int:
    from .record.signing import key_id, load_or_create_key, public_pem

    settings = _settings(args)
    try:
        key = load_or_create_key(settings.signing_key_path)
    except (OSError, ValueError) as exc:
        print(f"scenelink: {exc}", file=sys.stderr)
        return 2
    print(public_pem(key.public_key()), end="")
    print(f"(key id {key_id(key.public_key())}, from {settings.signing_key_path})", file=sys.stderr)
    return 0


def _read_password() -> str:
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("scenelink: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _with_accounts(args: argparse.Namespace, action) -> bool:
    """Run ``action(accounts)`` against the configured record; True if the name was taken."""
    import asyncio

    from .record import Accounts, Database
    from .record.accounts import DuplicateName

    settings = _settings(args)

    async def run() -> bool:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.database_url)
        try:
            await action(Accounts(db))
        except DuplicateName as exc:
            print(f"scenelink: {exc}", file=sys.stderr)
            return True
        finally:
            await db.close()
        return False

    return asyncio.run(run())


def _users_add(args: argparse.Namespace) -> int:
    from .auth import Role, check_name, check_password_strength, hash_password, parse_role

    try:
        check_name(args.name, "operator's name")
        role = parse_role(args.role)
        if role is Role.AML:
            raise ValueError("the aml role is for the network's AML feed: give it a token (scenelink tokens create)")
        password = _read_password()
        check_password_strength(password)
    except ValueError as exc:
        print(f"scenelink: {exc}", file=sys.stderr)
        return 2
    if _with_accounts(
        args, lambda accounts: accounts.add_operator(args.name, role.value, hash_password(password), "cli")
    ):
        return 1
    print(f"added operator {args.name!r} with role {role.value}")
    return 0


def _run_accounts(args: argparse.Namespace, action) -> int:
    """Run ``action(accounts)``; an unknown name is reported and answers 1."""
    from .record.accounts import UnknownName

    failed = False

    async def guarded(accounts) -> None:
        nonlocal failed
        try:
            await action(accounts)
        except UnknownName as exc:
            print(f"scenelink: {exc}", file=sys.stderr)
            failed = True

    _with_accounts(args, guarded)
    return 1 if failed else 0


def _table(rows: list[dict], columns: list[str]) -> None:
    def shown(value) -> str:
        return "-" if value is None else str(value)

    widths = [max([len(c)] + [len(shown(r[c])) for r in rows]) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(shown(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())


def _users_list(args: argparse.Namespace) -> int:
    async def show(accounts) -> None:
        _table(
            await accounts.list_operators(),
            ["username", "role", "created_at", "disabled_at", "must_change_password", "sessions"],
        )

    return _run_accounts(args, show)


def _users_change(args: argparse.Namespace) -> int:
    from .auth import hash_password, new_secret

    async def change(accounts) -> None:
        if args.change == "disable":
            ended = await accounts.set_disabled(args.name, True, "cli")
            print(f"disabled {args.name!r}; {ended} session(s) ended")
        elif args.change == "enable":
            await accounts.set_disabled(args.name, False, "cli")
            print(f"enabled {args.name!r}")
        elif args.change == "logout":
            print(f"{await accounts.end_sessions(args.name, 'cli')} session(s) of {args.name!r} ended")
        else:
            password = new_secret(12)
            ended = await accounts.reset_password(args.name, hash_password(password), "cli")
            print(password)
            print(
                f"(one-time password for {args.name!r}, shown once: it opens only the page to choose a new one; "
                f"{ended} session(s) ended)", file=sys.stderr,
            )

    return _run_accounts(args, change)


def _tokens_list(args: argparse.Namespace) -> int:
    async def show(accounts) -> None:
        _table(await accounts.list_tokens(), ["name", "role", "created_at", "expires_at", "revoked_at", "active"])

    return _run_accounts(args, show)


def _tokens_revoke(args: argparse.Namespace) -> int:
    async def revoke(accounts) -> None:
        await accounts.revoke_token(args.name, "cli")
        print(f"revoked token {args.name!r}")

    return _run_accounts(args, revoke)


def _embeds_list(args: argparse.Namespace) -> int:
    async def show(accounts) -> None:
        _table(
            await accounts.list_embeds(args.incident),
            ["id", "incident_id", "created_by", "created_at", "expires_at", "revoked_at", "active"],
        )

    return _run_accounts(args, show)


def _embeds_revoke(args: argparse.Namespace) -> int:
    async def revoke(accounts) -> None:
        count = await accounts.revoke_embeds("cli", embed_id=args.id, incident_id=args.incident)
        print(f"withdrew {count} embed link(s)")

    return _run_accounts(args, revoke)


def _tokens_create(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from .auth import check_name, digest, new_api_token, parse_role
    from .record.database import utcnow

    try:
        check_name(args.name, "token's name")
        role = parse_role(args.role)
        if args.expires_days is not None and not 1 <= args.expires_days <= 3650:
            raise ValueError("--expires-days must be from 1 to 3650")
    except ValueError as exc:
        print(f"scenelink: {exc}", file=sys.stderr)
        return 2
    expires_at = utcnow() + timedelta(days=args.expires_days) if args.expires_days else None
    token = new_api_token()
    if _with_accounts(
        args, lambda accounts: accounts.add_token(args.name, role.value, digest(token), "cli", expires_at)
    ):
        return 1
    print(token)
    print(f"(token {args.name!r}, role {role.value}: shown once, only its hash is kept)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
