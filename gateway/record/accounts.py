"""Operators, API tokens and browser sessions as stored in the record."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .database import Database, aware, inserted_id, iso, utcnow
from .schema import api_tokens, embed_tokens, operators, web_sessions


class DuplicateName(ValueError):
    pass


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
            async with self.db.chain(), self.db.begin() as conn:
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

    async def add_token(self, name: str, role: str, token_hash: str, actor: str) -> None:
        try:
            async with self.db.chain(), self.db.begin() as conn:
                await conn.execute(
                    api_tokens.insert().values(
                        name=name, role=role, token_hash=token_hash, created_at=utcnow()
                    )
                )
                await self.db.audit(conn, actor, "token.created", None, {"name": name, "role": role})
        except IntegrityError:
            raise DuplicateName(f"a token named {name!r} already exists") from None

    async def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(api_tokens).where(
                        api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
                    )
                )
            ).mappings().first()
        return dict(row) if row else None

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
        async with self.db.chain(), self.db.begin() as conn:
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
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(
                update(operators).where(operators.c.username == username).values(preferences=json.dumps(preferences))
            )
            await self.db.audit(conn, username, "preferences.changed", None, preferences)

    async def add_embed_token(
        self, token_hash: str, incident_id: str, actor: str, expires_at: datetime
    ) -> dict[str, Any]:
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(
                embed_tokens.insert().values(
                    token_hash=token_hash, incident_id=incident_id, created_by=actor,
                    created_at=utcnow(), expires_at=expires_at,
                )
            )
            await self.db.audit(conn, actor, "embed.created", incident_id, {"expires_at": iso(expires_at)})
        return {"incident_id": incident_id, "expires_at": iso(expires_at)}

    async def embed_incident(self, token_hash: str) -> str | None:
        """The incident an embed token opens, or None when unknown, expired or revoked."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(embed_tokens).where(embed_tokens.c.token_hash == token_hash))
            ).mappings().first()
        if not row or row["revoked_at"] is not None or aware(row["expires_at"]) <= utcnow():
            return None
        return row["incident_id"]
