"""Delivery receipts from the SMS providers: Twilio's signed status callbacks and GOV.UK Notify's
bearer-authenticated callbacks.

These are not under ``/api/``: the caller is a provider, not an operator. Each callback is
authenticated before its body is believed; a forged one is answered 403, logged, and changes
nothing. A genuine one moves the stored message to ``delivered`` or ``failed`` (with the reason),
tells the console (``sms.status``), and a failure marks the link failed so the handler can resend.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from .. import jsonlimits
from ..links import LinkState
from ..sms import Receipt, govuk_notify, twilio
from .keys import EVENTS, INCIDENTS, SETTINGS
from .security import client_address, json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post(twilio.STATUS_PATH)
async def twilio_status(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    table = settings.sms.get("twilio") or {}
    token = table.get("auth_token")
    if not token:
        return json_error(404, "not_configured", "Twilio receipts are not configured")
    form = await request.post()
    url = twilio.callback_url(table, settings.public_url)
    if not twilio.signature_ok(token, url, form, request.headers.get("X-Twilio-Signature")):
        log.warning("Twilio status callback from %s refused: bad or missing signature", client_address(request))
        return json_error(403, "bad_signature", "the request is not signed by Twilio")
    try:
        receipt = twilio.parse_status(form)  # type: ignore[arg-type]
    except ValueError as exc:
        return json_error(400, "bad_receipt", str(exc))
    return web.json_response({"applied": await _apply(request, "twilio", receipt)})


@routes.post(govuk_notify.STATUS_PATH)
async def notify_status(request: web.Request) -> web.Response:
    table = request.app[SETTINGS].sms.get("govuk_notify") or {}
    expected = table.get("callback_bearer_token")
    if not expected:
        return json_error(404, "not_configured", "GOV.UK Notify receipts are not configured")
    if not govuk_notify.bearer_ok(str(expected), request.headers.get("Authorization")):
        log.warning("GOV.UK Notify callback from %s refused: wrong or missing bearer token", client_address(request))
        return json_error(403, "bad_token", "the bearer token is not the configured one")
    try:
        receipt = govuk_notify.parse_receipt(jsonlimits.loads(await request.read()))
    except ValueError as exc:  # also malformed JSON
        return json_error(400, "bad_receipt", str(exc))
    return web.json_response({"applied": await _apply(request, "govuk_notify", receipt)})


async def _apply(request: web.Request, provider: str, receipt: Receipt | None) -> bool:
    """Store the receipt and tell the console; False when there was nothing to change."""
    if receipt is None:  # still on its way: the stored "sent" already says so
        return False
    incidents = request.app[INCIDENTS]
    message = await incidents.sms_by_provider_ref(provider, receipt.provider_ref)
    if message is None:
        log.info("%s receipt for unknown message %s ignored", provider, receipt.provider_ref)
        return False
    if message["status"] == receipt.status:  # providers may repeat a callback
        return False
    await incidents.update_sms(message["id"], receipt.status, receipt.provider_ref, receipt.reason)
    incident_id = message["incident_id"]
    events = request.app[EVENTS]
    data: dict[str, Any] = {**message, "status": receipt.status, "error": receipt.reason}
    events.publish("sms.status", incident_id, data)
    log.info("SMS %s (%s %s) %s%s", message["id"], provider, receipt.provider_ref, receipt.status,
             f": {receipt.reason}" if receipt.reason else "")
    link_state = _LINK_STATES.get(receipt.status)
    if link_state is not None and message["link_id"]:
        at = await incidents.move_link(message["link_id"], link_state, "gateway", receipt.reason)
        if at:
            events.publish(
                "link.state", incident_id, {"link_id": message["link_id"], "state": link_state.value, "at": at}
            )
    return True


# A failed text fails its link, so the handler sees it and resends. A delivered one moves the link
# too once gateway.links has a "delivered" state; until then the message alone records it.
_LINK_STATES: dict[str, LinkState] = {
    state.value: state for state in LinkState if state.value in ("failed", "delivered")
}
