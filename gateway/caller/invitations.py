"""Inviting a caller: issue a link for the incident, text it, and record each step."""

from __future__ import annotations

import logging
from typing import Any

from ..events import EventBus
from ..i18n import sms_text
from ..links import VIDEO, LinkState, expiry, link_url, mask_tokens, new_token, token_hash
from ..record import Incidents
from ..record.database import utcnow
from ..sms import SmsError, SmsSender

log = logging.getLogger(__name__)


async def send_link(
    incidents: Incidents,
    events: EventBus,
    sms: SmsSender,
    incident: dict[str, Any],
    public_url: str,
    ttl_seconds: int,
    sender_name: str,
    actor: str,
    language: str | None = None,
    mode: str = VIDEO,
) -> dict[str, Any]:
    """Create a new link (superseding any earlier one) and text it to the caller.

    ``language`` is the caller page's language, and the text's, as the handler chose it; None
    leaves the page to the phone's own language and sends the text in English. ``mode`` is what
    the caller is asked to share (:data:`~gateway.links.MODES`); a location-only link's text does
    not mention the camera.

    A provider failure does not lose the link: it is recorded as ``failed`` with the reason, and
    the handler still gets the URL to read out or resend.
    """
    token = new_token()
    link = await incidents.create_link(
        incident["id"], token_hash(token), expiry(utcnow(), ttl_seconds), actor, language, mode
    )
    superseded = link.pop("superseded", [])
    for old_id in superseded:
        events.publish(
            "link.state",
            incident["id"],
            {
                "link_id": old_id,
                "state": LinkState.REVOKED.value,
                "at": link["created_at"],
                "detail": "superseded by a new link",
            },
        )
    url = link_url(public_url, token)
    body = sms_text(language, sender_name, url, mode)
    # The record, the events and the console keep the text with its token masked: only the
    # provider gets it whole, and the handler who sent it gets the URL in this call's answer.
    message = await incidents.add_sms(
        incident["id"], link["id"], incident["caller_phone"], mask_tokens(body), sms.name, actor
    )
    try:
        result = await sms.send(incident["caller_phone"], body)
    except SmsError as exc:
        await incidents.update_sms(message["id"], "failed", error=exc.reason)
        message.update(status="failed", error=exc.reason)
        state = LinkState.FAILED
    else:
        await incidents.update_sms(message["id"], result.status, provider_ref=result.provider_ref)
        message["status"] = result.status
        state = LinkState.SENT
    at = await incidents.move_link(link["id"], state, actor, message.get("error"))
    link["state"] = state.value
    events.publish("sms.sent", incident["id"], message)
    events.publish("link.state", incident["id"], {"link_id": link["id"], "state": state.value, "at": at})
    return {**link, "url": url, "sms": message}
