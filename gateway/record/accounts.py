"""Operators, API tokens and browser sessions as stored in the record."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .database import Database, aware, inserted_id, iso, utcnow
from .schema import api_tokens, embed_tokens, operators, web_sessions

# An embed link is named in lists by this many hex digits of its token's SHA-256: enough to be
# unique among an incident's few links, and saying nothing of the token itself.
EMBED_ID_LENGTH = 16


class DuplicateName(ValueError):
    pass


class UnknownName(LookupError):
    """No operator, token or embed by that name."""


class Accounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def count_operators(self) -> int:
        async with self.db.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(operators))).scalar_one()

    async def add_operator(
        self, username: str, role: str, password_hash: str, actor: str, must_change: bool = False
    ) -> int:
        try:
            async with self.db.begin() as conn:
                result = await conn.execute(
                    operators.insert().values(
                        username=username, role=role, password_hash=password_hash, created_at=utcnow(),
                        must_change_password=must_change,
                    )
                )
                await self.db.audit(conn, actor, "operator.added", None, {"username": username, "role": role})
                return inserted_id(result)
        except IntegrityError:
            raise DuplicateName(f"an operator named {username!r} already exists") from None

    async def operator_by_name(self, username: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(operators).where(operators.c.username == username))
            ).mappings().first()
        return dict(row) if row else None

    async def add_token(
        self, name: str, role: str, token_hash: str, actor: str, expires_at: datetime | None = None
    ) -> None:
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    api_tokens.insert().values(
                        name=name, role=role, token_hash=token_hash, created_at=utcnow(), expires_at=expires_at
                    )
                )
                await self.db.audit(
                    conn, actor, "token.created", None, {"name": name, "role": role, "expires_at": iso(expires_at)}
                )
        except IntegrityError:
            raise DuplicateName(f"a token named {name!r} already exists") from None

    async def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """The token, or None when unknown, revoked or expired."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(api_tokens).where(
                        api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
                    )
                )
            ).mappings().first()
        if not row or (row["expires_at"] is not None and aware(row["expires_at"]) <= utcnow()):
            return None
        return dict(row)

    async def list_tokens(self) -> list[dict[str, Any]]:
        """Every API token without its secret (only a hash is kept anyway), newest first."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        api_tokens.c.name, api_tokens.c.role, api_tokens.c.created_at,
                        api_tokens.c.expires_at, api_tokens.c.revoked_at,
                    ).order_by(api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
                )
            ).mappings().all()
        now = utcnow()
        return [
            {
                "name": r["name"], "role": r["role"], "created_at": iso(r["created_at"]),
                "expires_at": iso(r["expires_at"]), "revoked_at": iso(r["revoked_at"]),
                "active": r["revoked_at"] is None and (r["expires_at"] is None or aware(r["expires_at"]) > now),
            }
            for r in rows
        ]

    async def revoke_token(self, name: str, actor: str) -> None:
        async with self.db.begin() as conn:
            done = await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if not done.rowcount:
                raise UnknownName(f"no active token named {name!r}")
            await self.db.audit(conn, actor, "token.revoked", None, {"name": name})

    # -- operators' lifecycle ---------------------------------------------------------------------

    async def list_operators(self) -> list[dict[str, Any]]:
        """Every operator with their state and how many sessions they have open (no hashes)."""
        sessions = (
            select(web_sessions.c.operator_id, func.count().label("sessions"))
            .where(web_sessions.c.expires_at > utcnow())
            .group_by(web_sessions.c.operator_id)
            .subquery()
        )
        query = (
            select(
                operators.c.username, operators.c.role, operators.c.created_at, operators.c.disabled_at,
                operators.c.must_change_password, func.coalesce(sessions.c.sessions, 0).label("sessions"),
            )
            .outerjoin(sessions, sessions.c.operator_id == operators.c.id)
            .order_by(operators.c.username)
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            {
                "username": r["username"], "role": r["role"], "created_at": iso(r["created_at"]),
                "disabled_at": iso(r["disabled_at"]), "must_change_password": bool(r["must_change_password"]),
                "sessions": int(r["sessions"]),
            }
            for r in rows
        ]

    async def _operator_id(self, conn: Any, username: str) -> int:
        found = (await conn.execute(select(operators.c.id).where(operators.c.username == username))).scalar()
        if found is None:
            raise UnknownName(f"no operator named {username!r}")
        return int(found)

    async def set_disabled(self, username: str, disabled: bool, actor: str) -> int:
        """Disable (ending every session) or enable an operator; returns the sessions ended."""
        async with self.db.begin() as conn:
            operator_id = await self._operator_id(conn, username)
            await conn.execute(
                update(operators).where(operators.c.id == operator_id)
                .values(disabled_at=utcnow() if disabled else None)
            )
            ended = 0
            if disabled:
                ended = (
                    await conn.execute(delete(web_sessions).where(web_sessions.c.operator_id == operator_id))
                ).rowcount or 0
            action = "operator.disabled" if disabled else "operator.enabled"
            await self.db.audit(conn, actor, action, None, {"username": username, "sessions_ended": ended})
        return ended

    async def reset_password(self, username: str, password_hash: str, actor: str) -> int:
        """Set a one-time password (to be changed at the next sign-in); every session ends."""
        async with self.db.begin() as conn:
            operator_id = await self._operator_id(conn, username)
            await conn.execute(
                update(operators).where(operators.c.id == operator_id)
                .values(password_hash=password_hash, must_change_password=True)
            )
            ended = (
                await conn.execute(delete(web_sessions).where(web_sessions.c.operator_id == operator_id))
            ).rowcount or 0
            await self.db.audit(
                conn, actor, "password.reset", None, {"username": username, "sessions_ended": ended}
            )
        return ended

    async def end_sessions(self, username: str, actor: str) -> int:
        """Sign the operator out everywhere; returns how many sessions ended."""
        async with self.db.begin() as conn:
            operator_id = await self._operator_id(conn, username)
            ended = (
                await conn.execute(delete(web_sessions).where(web_sessions.c.operator_id == operator_id))
            ).rowcount or 0
            await self.db.audit(conn, actor, "sessions.ended", None, {"username": username, "sessions_ended": ended})
        return ended

    async def add_web_session(
        self, id_hash: str, operator_id: int, csrf_token: str, expires_at: datetime
    ) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                web_sessions.insert().values(
                    id_hash=id_hash, operator_id=operator_id, csrf_token=csrf_token,
                    created_at=utcnow(), expires_at=expires_at,
                )
            )

    async def web_session(self, id_hash: str) -> dict[str, Any] | None:
        """The live session and its operator, or None when unknown, expired or disabled."""
        query = (
            select(
                web_sessions.c.csrf_token, web_sessions.c.expires_at,
                operators.c.id, operators.c.username, operators.c.role, operators.c.disabled_at,
                operators.c.must_change_password,
            )
            .join(operators, operators.c.id == web_sessions.c.operator_id)
            .where(web_sessions.c.id_hash == id_hash)
        )
        async with self.db.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if not row or row["disabled_at"] is not None or aware(row["expires_at"]) <= utcnow():
            return None
        return dict(row)

    async def change_password(self, username: str, password_hash: str, keep_session: str | None = None) -> int:
        """Set the operator's own new password; their other sessions end. Returns how many ended."""
        async with self.db.begin() as conn:
            operator_id = (
                await conn.execute(select(operators.c.id).where(operators.c.username == username))
            ).scalar_one()
            await conn.execute(
                update(operators)
                .where(operators.c.id == operator_id)
                .values(password_hash=password_hash, must_change_password=False)
            )
            query = delete(web_sessions).where(web_sessions.c.operator_id == operator_id)
            if keep_session is not None:
                query = query.where(web_sessions.c.id_hash != keep_session)
            ended = (await conn.execute(query)).rowcount or 0
            await self.db.audit(conn, username, "password.changed", None, {"sessions_ended": ended})
        return ended

    async def end_web_session(self, id_hash: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))

    async def preferences(self, username: str) -> dict[str, Any]:
        async with self.db.connect() as conn:
            raw = (
                await conn.execute(select(operators.c.preferences).where(operators.c.username == username))
            ).scalar()
        return json.loads(raw) if raw else {}

    async def set_preferences(self, username: str, preferences: dict[str, Any]) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(operators).where(operators.c.username == username).values(preferences=json.dumps(preferences))
            )
            await self.db.audit(conn, username, "preferences.changed", None, preferences)

    async def add_embed_token(
        self, token_hash: str, incident_id: str, actor: str, expires_at: datetime
    ) -> dict[str, Any]:
        async with self.db.begin() as conn:
            await conn.execute(
                embed_tokens.insert().values(
                    token_hash=token_hash, incident_id=incident_id, created_by=actor,
                    created_at=utcnow(), expires_at=expires_at,
                )
            )
            await self.db.audit(conn, actor, "embed.created", incident_id, {"expires_at": iso(expires_at)})
        return {"incident_id": incident_id, "expires_at": iso(expires_at)}

    async def list_embeds(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        """Embed links (newest first), each named by the start of its token's hash: never the token."""
        query = select(embed_tokens).order_by(embed_tokens.c.created_at.desc())
        if incident_id is not None:
            query = query.where(embed_tokens.c.incident_id == incident_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        now = utcnow()
        return [
            {
                "id": r["token_hash"][:EMBED_ID_LENGTH], "incident_id": r["incident_id"],
                "created_by": r["created_by"], "created_at": iso(r["created_at"]),
                "expires_at": iso(r["expires_at"]), "revoked_at": iso(r["revoked_at"]),
                "active": r["revoked_at"] is None and aware(r["expires_at"]) > now,
            }
            for r in rows
        ]

    async def revoke_embeds(self, actor: str, *, embed_id: str | None = None, incident_id: str | None = None) -> int:
        """Withdraw one embed link (by its id from :meth:`list_embeds`) or every one of an incident."""
        if (embed_id is None) == (incident_id is None):
            raise ValueError("name either one embed or one incident")
        query = update(embed_tokens).where(embed_tokens.c.revoked_at.is_(None))
        if embed_id is not None:
            if len(embed_id) != EMBED_ID_LENGTH or not all(c in "0123456789abcdef" for c in embed_id):
                raise UnknownName(f"no embed {embed_id!r}")
            query = query.where(embed_tokens.c.token_hash.startswith(embed_id))
        else:
            query = query.where(embed_tokens.c.incident_id == incident_id)
        async with self.db.begin() as conn:
            revoked = (await conn.execute(query.values(revoked_at=utcnow()))).rowcount or 0
            if embed_id is not None and not revoked:
                raise UnknownName(f"no active embed {embed_id!r}")
            await self.db.audit(
                conn, actor, "embed.revoked", incident_id, {"embed": embed_id, "revoked": revoked}
            )
        return revoked

    async def embed_incident(self, token_hash: str) -> str | None:
        """The incident an embed token opens, or None when unknown, expired or revoked."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(embed_tokens).where(embed_tokens.c.token_hash == token_hash))
            ).mappings().first()
        if not row or row["revoked_at"] is not None or aware(row["expires_at"]) <= utcnow():
            return None
        return row["incident_id"]
