"""Link tokens that earlier releases stored whole are masked: SMS texts and webhook deliveries.

Earlier releases kept the caller's link (``/c/<token>``) whole in each SMS as recorded
(``sms_messages.body``) and in the webhook deliveries of ``sms.sent`` events
(``webhook_outbox.body``), so a copy of the database could open a caller's session while the link
lived. Both are masked here as the gateway masks them now (:func:`gateway.links.mask_tokens`:
the first four characters kept, the rest ``*``). Outbox files are not in the database: the
gateway masks those at start and ``scenelink db upgrade`` does too (:mod:`gateway.sms.outbox`).

The audit chain is not rewritten. No entry holds a token: an SMS is in the chain by its salted
digest (``item_sha256`` of its ``sms.queued`` entry), and every existing entry keeps its detail and
hash. Since masking changes the text that digest covers, each SMS whose ``sms.queued`` entry
holds the digest of the text as it was gets a new entry, ``sms.masked``, naming the digest before
(``was_sha256``) and after (``item_sha256``): an evidence bundle then ties the masked text to the
chain through it (gateway.exports.proof). A text that no longer matched its digest is masked
without such an entry, so the masking never vouches for a change it did not make.

Revision ID: 0008_mask_link_tokens
Revises: 0007_link_mode
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

from gateway.record.chain import CURRENT, GENESIS, canonical, detail_digest, entry_hash_v2
from gateway.record.database import WRITER_LOCK, iso, utcnow
from gateway.record.items import item_digest

revision = "0008_mask_link_tokens"
down_revision = "0007_link_mode"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# As gateway.links masks them at this revision: a caller's link or an embed, in a path.
_CAPABILITY_PATH = re.compile(r"/(c|embed)/([A-Za-z0-9_-]{8,})")
REASON = "link token masked at rest"

# The tables as they are at this revision (not as schema.py may describe them later).
_sms = sa.table(
    "sms_messages",
    sa.column("id", sa.String), sa.column("incident_id", sa.String), sa.column("link_id", sa.String),
    sa.column("to", sa.String), sa.column("body", sa.Text), sa.column("provider", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)), sa.column("salt", sa.String),
)
_audit = sa.table(
    "audit",
    sa.column("seq", sa.Integer), sa.column("version", sa.Integer), sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String), sa.column("action", sa.String), sa.column("incident_id", sa.String),
    sa.column("detail", sa.Text), sa.column("nonce", sa.String), sa.column("detail_sha256", sa.String),
    sa.column("prev_hash", sa.String), sa.column("hash", sa.String),
)
_webhook_outbox = sa.table("webhook_outbox", sa.column("id", sa.Integer), sa.column("body", sa.Text))


def mask(text: str) -> str:
    return _CAPABILITY_PATH.sub(lambda m: f"/{m.group(1)}/{m.group(2)[:4]}{'*' * (len(m.group(2)) - 4)}", text)


def _holding_tokens(column: Any) -> Any:
    return sa.or_(column.like("%/c/%"), column.like("%/embed/%"))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The chain's own writer lock: no gateway node may extend the chain while entries are added.
        bind.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})
    entries = [_mask_sms(bind, row) for row in bind.execute(
        sa.select(_sms).where(_holding_tokens(_sms.c.body)).order_by(_sms.c.created_at, _sms.c.id)
    ).mappings().all()]
    _append(bind, [e for e in entries if e is not None])
    for row in bind.execute(sa.select(_webhook_outbox).where(_holding_tokens(_webhook_outbox.c.body))).all():
        masked = mask(row.body)
        if masked != row.body:
            bind.execute(_webhook_outbox.update().where(_webhook_outbox.c.id == row.id).values(body=masked))


def _item(row: Any, body: str) -> dict[str, Any]:
    """The SMS as the record shows it, which is what its digest covers (gateway.record.rows)."""
    return {
        "id": row["id"], "link_id": row["link_id"], "to": row["to"], "body": body,
        "provider": row["provider"], "created_at": iso(row["created_at"]), "salt": row["salt"],
    }


def _mask_sms(bind: sa.Connection, row: Any) -> tuple[str, dict[str, Any]] | None:
    """Mask one SMS; the ``sms.masked`` entry it needs, as (incident, detail), or None."""
    body = mask(row["body"])
    if body == row["body"]:
        return None
    bind.execute(_sms.update().where(_sms.c.id == row["id"]).values(body=body))
    recorded = _queued_digest(bind, row["incident_id"], row["id"])
    if recorded is None:
        return None  # recorded before item digests: the chain never covered its text
    if recorded != item_digest("sms", _item(row, row["body"])):
        log.warning("SMS %s no longer matched its digest in the audit chain: masked without an entry", row["id"])
        return None
    return row["incident_id"], {
        "sms_id": row["id"], "link_id": row["link_id"], "reason": REASON,
        "was_sha256": recorded, "item_sha256": item_digest("sms", _item(row, body)),
    }


def _queued_digest(bind: sa.Connection, incident_id: str, sms_id: str) -> str | None:
    details = bind.execute(
        sa.select(_audit.c.detail).where(
            _audit.c.action == "sms.queued", _audit.c.incident_id == incident_id, _audit.c.version == CURRENT,
            _audit.c.detail.like(f'%"sms_id":"{sms_id}"%'),
        )
    ).scalars().all()
    for text in details:
        detail = json.loads(text)
        if detail.get("sms_id") == sms_id:
            return detail.get("item_sha256")
    return None


def _append(bind: sa.Connection, entries: list[tuple[str, dict[str, Any]]]) -> None:
    """Add entries to the chain as the gateway does (gateway.record.database.Database.audit_many)."""
    if not entries:
        return
    head = bind.execute(sa.select(_audit.c.seq, _audit.c.hash).order_by(_audit.c.seq.desc()).limit(1)).first()
    seq, prev = (int(head[0]), head[1]) if head else (0, GENESIS)
    at = utcnow()
    stamp = iso(at) or ""
    rows = []
    for incident_id, detail in entries:
        seq += 1
        body = json.loads(canonical(detail))
        nonce = secrets.token_hex(16)
        detail_sha = detail_digest(body, nonce)
        digest = entry_hash_v2(seq, prev, stamp, "gateway", "sms.masked", incident_id, detail_sha)
        rows.append({
            "seq": seq, "version": CURRENT, "at": at, "actor": "gateway", "action": "sms.masked",
            "incident_id": incident_id, "detail": canonical(body), "nonce": nonce, "detail_sha256": detail_sha,
            "prev_hash": prev, "hash": digest,
        })
        prev = digest
    bind.execute(_audit.insert(), rows)


def downgrade() -> None:
    # What was masked is gone; there is nothing to put back.
    pass
