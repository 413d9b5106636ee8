"""Talking without a voice: the handler's instructions, the caller's silent replies, and the
handler's requests for the camera (which one, the torch).

An instruction is stored first, then handed to the caller's page over the data channel if it is
open; otherwise the page fetches it over HTTPS (``GET /c/{token}/messages``) when it next can. The
page shows it large and answers ``seen``. Replies carry the page's own reference so a resend is
stored once. Everything is stored with its time and language and audited (gateway.record).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from .. import i18n
from ..events import EventBus
from ..links import FINAL, LinkState
from ..live import LiveSessions
from ..record import Conversations, Database, Incidents
from ..record.conversation import FROM_CALLER, TO_CALLER
from .caller_status import FACINGS, CallerStatuses

ANSWERS = ("yes", "no")
MAX_REF = 40
MAX_MESSAGE_ID = 32  # caller_messages.in_reply_to's length: PostgreSQL refuses a longer one


class NoCaller(Exception):
    """The incident has no link a caller can still use."""


class BadMessage(ValueError):
    """The message cannot be sent or stored; ``code`` names why, for the API's error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def instruction(message: Mapping[str, Any]) -> dict[str, Any]:
    """An instruction as the caller's page receives it."""
    return {
        "type": "instruction", "id": message["id"], "kind": message["kind"], "phrase": message["phrase"],
        "text": message["text"], "language": message["language"],
        "ask": message["phrase"] in i18n.QUESTIONS, "sent_at": message["sent_at"],
        "seen": message["seen_at"] is not None,
    }


class Conversation:
    def __init__(
        self,
        db: Database,
        incidents: Incidents,
        events: EventBus,
        live: LiveSessions,
        statuses: CallerStatuses,
    ) -> None:
        self.db = db
        self.messages = Conversations(db)
        self.incidents = incidents
        self.events = events
        self.live = live
        self.statuses = statuses
        # The handler's latest wishes for each link's camera; the version lets a page that polls
        # over HTTPS apply each wish once.
        self.controls: dict[str, dict[str, Any]] = {}
        self._versions = itertools.count(1)

    # -- the handler ----------------------------------------------------------------------------

    async def current_link(self, incident_id: str) -> dict[str, Any]:
        link = await self.incidents.latest_link(incident_id)
        if link is None or LinkState(link["state"]) in FINAL:
            raise NoCaller("there is no caller link in use for this incident: send one first")
        return link

    def caller_language(self, incident_id: str, link: Mapping[str, Any]) -> str:
        return self.statuses.language(incident_id) or link.get("language") or i18n.DEFAULT

    async def instruct(
        self, incident_id: str, actor: str, *, phrase: Any = None, text: Any = None, language: Any = None
    ) -> dict[str, Any]:
        """Store an instruction for the caller and hand it to their page if it is connected."""
        if (phrase is None) == (text is None):
            raise BadMessage("invalid_message", "send either a phrase or a text")
        link = await self.current_link(incident_id)
        if phrase is not None:
            lang = self.caller_language(incident_id, link)
            try:
                body = i18n.phrase_text(lang, phrase) if isinstance(phrase, str) else None
            except i18n.UnknownPhrase:
                body = None
            if body is None:
                raise BadMessage("unknown_phrase", f"no phrase {phrase!r} in the phrase book")
            kind = "phrase"
        else:
            body = _free_text(text)
            try:
                lang = i18n.check_language(language) or i18n.DEFAULT
            except i18n.UnknownLanguage as exc:
                raise BadMessage("invalid_language", str(exc)) from None
            kind = "text"
        message, _ = await self.messages.add(
            incident_id, link["id"], TO_CALLER, kind, body, lang, actor, phrase=phrase if kind == "phrase" else None
        )
        self.events.publish("message", incident_id, message)
        live = self.live.by_incident.get(incident_id)
        if live is not None and live.link_id == link["id"] and self.live.send(incident_id, instruction(message)):
            message = await self._delivered(message) or message
        return message

    async def request_camera(
        self, incident_id: str, actor: str, *, facing: Any = None, torch: Any = None
    ) -> dict[str, Any]:
        """Ask the caller's page for the front or back camera, or the torch on or off."""
        if facing is None and torch is None:
            raise BadMessage("invalid_request", "ask for 'facing' and/or 'torch'")
        if facing is not None and facing not in FACINGS:
            raise BadMessage("invalid_facing", "facing must be 'user' (front) or 'environment' (back)")
        if torch is not None and not isinstance(torch, bool):
            raise BadMessage("invalid_torch", "torch must be true or false")
        link = await self.current_link(incident_id)
        wish = dict(self.controls.get(link["id"], {}))
        if facing is not None:
            wish["facing"] = facing
        if torch is not None:
            wish["torch"] = torch
        wish["version"] = next(self._versions)
        self.controls[link["id"]] = wish
        await self.db.record_action(
            actor, "camera.requested", incident_id, link_id=link["id"], facing=facing, torch=torch
        )
        delivered = True
        if facing is not None:
            delivered = self.live.send(incident_id, {"type": "camera", "facing": facing}) and delivered
        if torch is not None:
            delivered = self.live.send(incident_id, {"type": "torch", "on": torch}) and delivered
        self.events.publish(
            "camera.requested", incident_id, {"facing": facing, "torch": torch, "by": actor, "delivered": delivered}
        )
        return {"delivered": delivered, "control": wish}

    # -- the caller's page ----------------------------------------------------------------------

    async def for_page(self, link: Mapping[str, Any]) -> dict[str, Any]:
        """What a page polling over HTTPS should have: every instruction, and the camera wishes."""
        messages = await self.messages.for_link(link["id"], TO_CALLER)
        for message in messages:
            if message["delivered_at"] is None:
                message.update(await self._delivered(message) or {})
        return {"messages": [instruction(m) for m in messages], "control": self.controls.get(link["id"])}

    async def push_pending(self, incident_id: str, link_id: str) -> None:
        """A page just connected over the data channel: send it what it has not yet seen."""
        for message in await self.messages.for_link(link_id, TO_CALLER):
            if message["seen_at"] is None and self.live.send(incident_id, instruction(message)):
                if message["delivered_at"] is None:
                    await self._delivered(message)
        wish = self.controls.get(link_id)
        if wish:
            if "facing" in wish:
                self.live.send(incident_id, {"type": "camera", "facing": wish["facing"]})
            if "torch" in wish:
                self.live.send(incident_id, {"type": "torch", "on": wish["torch"]})

    async def seen(self, link: Mapping[str, Any], message_id: Any) -> dict[str, Any] | None:
        if not isinstance(message_id, str) or len(message_id) > 40:
            raise BadMessage("invalid_message", "'id' must be a message id")
        message = await self.messages.mark_seen(link["id"], message_id)
        if message is not None:
            self._publish_status(message)
        return message

    async def reply(self, link: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
        """Store the caller's answer (yes / no) or text; a resend with the same ``ref`` is stored once."""
        answer, text = body.get("answer"), body.get("text")
        if (answer is None) == (text is None):
            raise BadMessage("invalid_reply", "a reply carries either an answer (yes or no) or a text")
        if answer is not None and answer not in ANSWERS:
            raise BadMessage("invalid_reply", "answer must be 'yes' or 'no'")
        ref = body.get("ref")
        if ref is not None and (not isinstance(ref, str) or not 0 < len(ref) <= MAX_REF):
            raise BadMessage("invalid_reply", f"ref must be a string of at most {MAX_REF} characters")
        in_reply_to = body.get("in_reply_to")
        if in_reply_to is not None and (not isinstance(in_reply_to, str) or len(in_reply_to) > MAX_MESSAGE_ID):
            raise BadMessage("invalid_reply", "in_reply_to must be a message id")
        language = self.caller_language(link["incident_id"], link)
        if answer is not None:
            kind, content = "answer", answer
        else:
            kind, content = "text", _free_text(text)
        message, new = await self.messages.add(
            link["incident_id"], link["id"], FROM_CALLER, kind, content, language, "caller",
            in_reply_to=in_reply_to, client_ref=ref,
        )
        if new:
            self.events.publish("message", link["incident_id"], message)
        return message

    async def _delivered(self, message: Mapping[str, Any]) -> dict[str, Any] | None:
        changed = await self.messages.mark_delivered([message["id"]])
        for m in changed:
            self._publish_status(m)
        return changed[0] if changed else None

    def _publish_status(self, message: Mapping[str, Any]) -> None:
        self.events.publish(
            "message.status", message["incident_id"],
            {"id": message["id"], "delivered_at": message["delivered_at"], "seen_at": message["seen_at"]},
        )


def _free_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadMessage("invalid_text", "the text must not be empty")
    text = " ".join(text.split())
    if len(text) > i18n.MAX_TEXT:
        raise BadMessage("text_too_long", f"a message has at most {i18n.MAX_TEXT} characters")
    return text
