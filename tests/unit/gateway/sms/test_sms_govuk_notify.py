"""GOV.UK Notify, through the official client, against a local server speaking Notify's API."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError
from gateway.sms import SmsError
from gateway.sms.govuk_notify import NotifySender, NotifySettings, bearer_ok, link_in, parse_receipt
from gateway.sms.retry import RetryingSender, RetryPolicy

CALLER = "+447400123456"
BODY = (
    "999 Control Room: tap this link to share your camera and location with us: https://gw.test/c/AbC-123 "
    "Only use it during your call with us."
)


def sender_for(table, timeout=2.0):
    return NotifySender(NotifySettings.from_table(table), timeout=timeout)


async def test_a_text_is_posted_as_notify_documents_it(fake_notify):
    result = await sender_for(fake_notify.table(sms_sender_id="8e222534-7f05-4972-86e3-17c5d9f894e2")).send(
        CALLER, BODY
    )
    (request,) = fake_notify.requests
    assert request["path"] == "/v2/notifications/sms"
    assert request["claims"] is not None and request["claims"]["iss"] == fake_notify.service_id
    assert request["json"] == {
        "phone_number": CALLER, "template_id": fake_notify.template_id,
        "personalisation": {"link": "https://gw.test/c/AbC-123", "body": BODY},
        "sms_sender_id": "8e222534-7f05-4972-86e3-17c5d9f894e2",
    }
    assert result.status == "sent" and len(result.provider_ref) == 36


async def test_a_number_notify_calls_not_a_uk_mobile_is_refused_for_good(fake_notify):
    with pytest.raises(SmsError) as caught:
        await sender_for(fake_notify.table()).send("+33612345678", BODY)
    assert caught.value.reason.startswith("the caller's number is not a UK mobile number")
    assert "phone_number Not a UK mobile number" in caught.value.reason and not caught.value.retryable


async def test_a_key_for_another_service_is_refused_as_notify_refuses_it(fake_notify):
    other = "scenelink_test-" + "11111111-2222-3333-4444-555555555555" + "-" + "3d844edf-8d35-48ac-975b-e847b4f122b0"
    with pytest.raises(SmsError) as caught:
        await sender_for(fake_notify.table(api_key=other)).send(CALLER, BODY)
    assert fake_notify.requests[0]["claims"] is None  # the fake really did check the JWT
    assert "API key" in caught.value.reason and "AuthError" not in caught.value.reason
    assert "403" in caught.value.reason and not caught.value.retryable


async def test_a_wrong_template_is_a_configuration_problem(fake_notify):
    table = fake_notify.table(template_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(SmsError) as caught:
        await sender_for(table).send(CALLER, BODY)
    assert "sms.govuk_notify.template_id" in caught.value.reason and not caught.value.retryable


@pytest.mark.parametrize("status,error,message,retryable,words", [
    (400, "BadRequestError", "Can't send to this recipient using a team-only API key", False, "team's own numbers"),
    (403, "AuthError", "Error: Your system clock must be accurate to within 30 seconds", False, "API key"),
    (429, "RateLimitError", "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds", True, "limiting"),
    (429, "TooManyRequestsError", "Exceeded send limits (250000) for today", False, "daily"),
    (500, "Exception", "Internal server error", True, "not working"),
])
async def test_each_kind_of_error_answer(fake_notify, status, error, message, retryable, words):
    fake_notify.then_error(status, error, message)
    with pytest.raises(SmsError) as caught:
        await sender_for(fake_notify.table()).send(CALLER, BODY)
    assert words in caught.value.reason and message in caught.value.reason
    assert caught.value.retryable is retryable


async def test_an_unreachable_notify_is_worth_retrying(closed_port, fake_notify):
    with pytest.raises(SmsError) as caught:
        await sender_for(fake_notify.table(base_url=closed_port)).send(CALLER, BODY)
    assert "cannot reach GOV.UK Notify" in caught.value.reason and caught.value.retryable


async def test_a_notify_that_never_answers_reaches_the_handler_within_the_timeout(fake_notify):
    fake_notify.then_hang()
    with pytest.raises(SmsError) as caught:
        await sender_for(fake_notify.table(), timeout=0.3).send(CALLER, BODY)
    assert caught.value.reason == "no answer from GOV.UK Notify within 0.3 s" and caught.value.retryable


async def test_a_failing_notify_is_retried_then_succeeds(fake_notify):
    fake_notify.then_error(500, "Exception", "Internal server error")
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    sender = RetryingSender(sender_for(fake_notify.table()), RetryPolicy(first_delay=0.25), sleep=sleep)
    result = await sender.send(CALLER, BODY)
    assert len(fake_notify.requests) == 2 and waits == [0.25]
    assert result.provider_ref and sender.name == "govuk_notify"


@pytest.mark.parametrize(
    "table,setting",
    [
        ({"template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a"}, "sms.govuk_notify.api_key"),
        ({"api_key": "short", "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a"}, "sms.govuk_notify.api_key"),
        (
            {"api_key": "k-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"},
            "sms.govuk_notify.template_id",
        ),
        (
            {
                "api_key": "k-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0",
                "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
                "callback_bearer_token": "short",
            },
            "sms.govuk_notify.callback_bearer_token",
        ),
    ],
)
def test_missing_settings_are_named_and_the_key_never_repeated(table, setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")) as caught:
        NotifySettings.from_table(table)
    assert "3d844edf" not in str(caught.value)


def test_the_link_is_found_in_the_message():
    assert link_in(BODY) == "https://gw.test/c/AbC-123"
    assert link_in("open (https://gw.test/c/x).") == "https://gw.test/c/x"


def test_the_callback_bearer_token_must_match_exactly():
    assert bearer_ok("a-long-token-123", "Bearer a-long-token-123")
    for header in (
        None,
        "",
        "a-long-token-123",
        "Bearer a-long-token-12",
        "Bearer a-long-token-1234",
        "Basic a-long-token-123",
    ):
        assert not bearer_ok("a-long-token-123", header)


def test_delivery_receipts_become_receipts():
    base = {"id": "740e5834-3a29-46b4-9a6f-16142fde533a", "reference": None, "to": CALLER,
            "created_at": "2026-11-26T04:21:00.000000Z", "notification_type": "sms"}
    assert parse_receipt({**base, "status": "delivered"}).status == "delivered"
    assert parse_receipt({**base, "status": "sending"}) is None
    failed = parse_receipt({**base, "status": "temporary-failure"})
    assert failed.status == "failed" and "switched off" in failed.reason
    with pytest.raises(ValueError):
        parse_receipt({"status": "delivered"})
