"""Twilio, through the official library, against a local server speaking Twilio's Messages API."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from gateway.config import ConfigError
from gateway.sms import SmsError
from gateway.sms.retry import RetryingSender, RetryPolicy
from gateway.sms.twilio import TwilioSender, TwilioSettings, parse_status, send_error, signature_ok

# The library passes aiohttp's deprecated BasicAuth; that is the library's to change, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio")

PUBLIC = "https://gw.example.police.uk"
CALLER = "+447400123456"


@pytest.fixture
async def make(fake_twilio):
    made = []

    def build(**changes):
        sender = TwilioSender(TwilioSettings.from_table(fake_twilio.table(**changes), PUBLIC))
        made.append(sender)
        return sender

    yield build
    for sender in made:
        await sender.aclose()


async def test_a_text_is_posted_as_twilio_documents_it(make, fake_twilio):
    result = await make().send(CALLER, "Tap https://gw/c/abc")
    (request,) = fake_twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request["auth"] == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {
        "To": CALLER, "From": "+447700900999", "Body": "Tap https://gw/c/abc",
        "StatusCallback": f"{PUBLIC}/sms/twilio/status",
    }
    assert result.status == "sent" and result.provider_ref.startswith("SM")


async def test_a_messaging_service_and_an_api_key_are_used_when_configured(make, fake_twilio):
    sender = make(
        from_number=None, messaging_service_sid="MG" + "1" * 32,
        api_key_sid=fake_twilio.key_sid, api_key_secret=fake_twilio.key_secret, status_callback=False,
    )
    await sender.send(CALLER, "hello")
    (request,) = fake_twilio.requests
    assert request["auth"] == (fake_twilio.key_sid, fake_twilio.key_secret)
    assert request["path"].startswith(f"/2010-04-01/Accounts/{fake_twilio.account_sid}/")
    assert request["form"] == {"To": CALLER, "MessagingServiceSid": "MG" + "1" * 32, "Body": "hello"}


@pytest.mark.parametrize("to,code,words", [
    ("07400 123456", 21211, "not a valid phone number"),
    ("+441132345678", 21614, "not a mobile number"),
])
async def test_a_refused_number_is_a_reason_not_worth_retrying(make, to, code, words):
    with pytest.raises(SmsError) as caught:
        await make().send(to, "hello")
    assert words in caught.value.reason and f"Twilio {code}" in caught.value.reason
    assert not caught.value.retryable


async def test_wrong_credentials_are_said_plainly(make, fake_twilio):
    with pytest.raises(SmsError) as caught:
        await make(auth_token="not-the-token").send(CALLER, "hello")
    assert fake_twilio.requests[0]["auth"] == (fake_twilio.account_sid, "not-the-token")
    assert "credentials" in caught.value.reason and "20003" in caught.value.reason
    assert not caught.value.retryable


@pytest.mark.parametrize("status,code,body,retryable,words", [
    (429, 20429, "Too Many Requests", True, "limiting"),
    (503, None, "Service Unavailable", True, "not working"),
    (500, 20500, "Internal Server Error", True, "not working"),
    (400, 21610, "Attempt to send to unsubscribed recipient", False, "replied STOP"),
    (400, 21408, "Permission to send an SMS has not been enabled for the region", False, "country"),
])
async def test_each_kind_of_error_answer(make, fake_twilio, status, code, body, retryable, words):
    fake_twilio.then_error(status, code, body)
    with pytest.raises(SmsError) as caught:
        await make().send(CALLER, "hello")
    assert words in caught.value.reason and body in caught.value.reason
    assert caught.value.retryable is retryable


async def test_an_html_error_page_from_a_proxy_is_still_understood(make, fake_twilio):
    fake_twilio.then((502, "<html>Bad Gateway</html>"))
    with pytest.raises(SmsError) as caught:
        await make().send(CALLER, "hello")
    assert "HTTP 502" in caught.value.reason and caught.value.retryable


async def test_an_unreachable_twilio_is_worth_retrying(closed_port):
    table = {"account_sid": "AC1", "auth_token": "t", "from_number": "+447700900999", "base_url": closed_port}
    sender = TwilioSender(TwilioSettings.from_table(table, PUBLIC))
    try:
        with pytest.raises(SmsError) as caught:
            await sender.send(CALLER, "hello")
    finally:
        await sender.aclose()
    assert "cannot reach Twilio" in caught.value.reason and caught.value.retryable


async def test_a_busy_twilio_is_retried_with_back_off_then_succeeds(make, fake_twilio):
    fake_twilio.then_error(503, None, "Service Unavailable")
    fake_twilio.then_error(429, 20429, "Too Many Requests")
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    sender = RetryingSender(make(), RetryPolicy(attempts=3, first_delay=0.5), sleep=sleep)
    result = await sender.send(CALLER, "hello")
    assert len(fake_twilio.requests) == 3 and waits == [0.5, 1.0]
    assert result.provider_ref.startswith("SM") and sender.name == "twilio"


async def test_a_twilio_that_never_answers_reaches_the_handler_quickly(make, fake_twilio):
    fake_twilio.then_hang(2)
    sender = RetryingSender(make(), RetryPolicy(attempts=2, first_delay=0.01, attempt_timeout=0.3, deadline=2))
    with pytest.raises(SmsError) as caught:
        await sender.send(CALLER, "hello")
    assert "no answer from Twilio within 0.3 s" in caught.value.reason
    assert "gave up after 2 attempts" in caught.value.reason
    assert len(fake_twilio.requests) == 2


def test_the_library_s_fallback_code_is_not_shown_as_a_twilio_code():
    error = send_error(503, 503, "Unable to create record")
    assert error.reason == "Twilio is not working at the moment (Twilio HTTP 503: Unable to create record)"


@pytest.mark.parametrize(
    "table,setting",
    [
        ({"auth_token": "t", "from_number": "+44"}, "sms.twilio.account_sid"),
        ({"account_sid": "AC1", "from_number": "+44"}, "sms.twilio.auth_token"),
        ({"account_sid": "AC1", "auth_token": "t"}, "sms.twilio.from_number"),
        (
            {"account_sid": "AC1", "api_key_sid": "SK1", "api_key_secret": "s", "from_number": "+44"},
            "sms.twilio.auth_token",
        ),
        (
            {"account_sid": "AC1", "api_key_sid": "SK1", "auth_token": "t", "from_number": "+44"},
            "sms.twilio.api_key_secret",
        ),
    ],
)
def test_missing_settings_are_named(table, setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        TwilioSettings.from_table(table, PUBLIC)


# -- status callbacks ---------------------------------------------------------------------------


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented scheme, written out independently of the library under test."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


CALLBACK = {"MessageSid": "SM123", "MessageStatus": "delivered", "AccountSid": "AC1", "To": CALLER}


def test_a_signature_made_as_twilio_documents_is_accepted():
    url = f"{PUBLIC}/sms/twilio/status"
    assert signature_ok("tok", url, CALLBACK, twilio_signature("tok", url, CALLBACK))


@pytest.mark.parametrize("change", ["token", "url", "field", "missing"])
def test_any_change_breaks_the_signature(change):
    url = f"{PUBLIC}/sms/twilio/status"
    signature = twilio_signature("other" if change == "token" else "tok", url, CALLBACK)
    params = {**CALLBACK, "MessageStatus": "failed"} if change == "field" else CALLBACK
    checked_url = "https://attacker.example/sms/twilio/status" if change == "url" else url
    assert not signature_ok("tok", checked_url, params, None if change == "missing" else signature)


def test_status_callbacks_become_receipts():
    assert parse_status(CALLBACK).status == "delivered"
    assert parse_status({**CALLBACK, "MessageStatus": "sent"}) is None
    failed = parse_status({**CALLBACK, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert failed.status == "failed" and failed.provider_ref == "SM123"
    assert "switched off" in failed.reason and "30003" in failed.reason
    with pytest.raises(ValueError):
        parse_status({"MessageStatus": "delivered"})
