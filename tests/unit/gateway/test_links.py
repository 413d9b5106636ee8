"""A link's token is unguessable and stored hashed; its state moves only forward."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from gateway.links import (
    LinkState,
    LinkUnusable,
    can_move,
    check_usable,
    link_url,
    looks_like_token,
    new_token,
    token_hash,
)

NOW = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def test_tokens_carry_at_least_128_random_bits_and_differ():
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(looks_like_token(t) for t in tokens)
    assert len(new_token()) * 6 >= 128


def test_only_the_hash_identifies_a_token():
    token = new_token()
    assert token_hash(token) == token_hash(token)
    assert token not in token_hash(token)


@pytest.mark.parametrize("bad", ["", "short", "x" * 31, "x" * 33, "a" * 31 + "/", "../../etc/passwd"])
def test_malformed_tokens_are_recognised_before_any_lookup(bad):
    assert not looks_like_token(bad)


def test_link_url_puts_the_token_under_c():
    assert link_url("https://gw.example/", "T") == "https://gw.example/c/T"


def test_a_link_moves_through_sent_opened_consented_streaming_ended():
    path = [
        LinkState.CREATED,
        LinkState.SENT,
        LinkState.OPENED,
        LinkState.CONSENTED,
        LinkState.STREAMING,
        LinkState.ENDED,
    ]
    for current, new in itertools.pairwise(path):
        assert can_move(current, new)


@pytest.mark.parametrize("final", [LinkState.ENDED, LinkState.EXPIRED, LinkState.REVOKED])
def test_a_final_state_is_never_left(final):
    assert not any(can_move(final, s) for s in LinkState)


def test_streaming_cannot_go_back_to_sent():
    assert not can_move(LinkState.STREAMING, LinkState.SENT)


def test_an_unopened_link_expires_but_an_opened_one_does_not():
    past = NOW - timedelta(seconds=1)
    with pytest.raises(LinkUnusable, match="expired"):
        check_usable(LinkState.SENT, past, opened=False, now=NOW)
    check_usable(LinkState.STREAMING, past, opened=True, now=NOW)


@pytest.mark.parametrize("state", [LinkState.REVOKED, LinkState.ENDED, LinkState.EXPIRED])
def test_revoked_ended_and_expired_links_are_unusable(state):
    with pytest.raises(LinkUnusable):
        check_usable(state, NOW + timedelta(hours=1), opened=True, now=NOW)


def test_delivered_sits_between_sent_and_opened():
    assert can_move(LinkState.SENT, LinkState.DELIVERED)
    assert can_move(LinkState.DELIVERED, LinkState.OPENED)
    assert can_move(LinkState.DELIVERED, LinkState.FAILED)
    assert not can_move(LinkState.OPENED, LinkState.DELIVERED)


def test_a_late_receipt_and_another_devices_attempt_are_only_noted():
    from gateway.links import is_note

    assert is_note(LinkState.STREAMING, LinkState.DELIVERED)
    assert not is_note(LinkState.SENT, LinkState.DELIVERED), "from sent it is a real move"
    assert all(is_note(s, LinkState.REFUSED) for s in LinkState)
    assert not any(can_move(s, LinkState.REFUSED) for s in LinkState), "refused is never a link's state"
    assert not is_note(LinkState.OPENED, LinkState.ENDED)


def test_the_sessions_maximum_length_counts_from_opening():
    from gateway.links import session_over

    assert not session_over(None, NOW, 60)
    assert not session_over(NOW - timedelta(seconds=59), NOW, 60)
    assert session_over(NOW - timedelta(seconds=60), NOW, 60)


def test_tokens_in_paths_are_masked_to_four_characters():
    from gateway.links import MASK, mask_tokens, new_token

    token = new_token()
    text = f"Tap this link: https://gw.example/c/{token} (999 Control Room)"
    stars = MASK * 28
    assert mask_tokens(text) == f"Tap this link: https://gw.example/c/{token[:4]}{stars} (999 Control Room)"
    assert len(mask_tokens(text)) == len(text), "the same length: the same SMS parts"
    assert mask_tokens(f"/embed/{token}/mjpeg?x=1") == f"/embed/{token[:4]}{stars}/mjpeg?x=1"
    assert mask_tokens(f"/c/{token}/offer") == f"/c/{token[:4]}{stars}/offer"
    for untouched in ("/static/caller/app.js", "/api/incidents/inc_1/links", "/console", "/c/abc"):
        assert mask_tokens(untouched) == untouched
    assert mask_tokens(mask_tokens(text)) == mask_tokens(text), "masking twice changes nothing"
