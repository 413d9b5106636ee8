"""Retention decides per kind, from the incident's end; open and held incidents are never due."""

from datetime import UTC, datetime, timedelta

from gateway.config import RetentionSettings
from gateway.record.retention import due_kinds, next_due

ENDED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = RetentionSettings(recordings_days=31, snapshots_days=31, fixes_days=90, conversation_days=0,
                             caller_phone_days=7)


def kinds(incident, now):
    return [d.kind for d in due_kinds(incident, SETTINGS, now)]


def test_each_kind_falls_due_after_its_own_period_from_the_end():
    incident = {"ended_at": ENDED, "held_at": None}
    assert kinds(incident, ENDED + timedelta(days=6)) == []
    assert kinds(incident, ENDED + timedelta(days=7)) == ["caller_phone"]
    assert kinds(incident, ENDED + timedelta(days=31)) == ["recordings", "snapshots", "caller_phone"]
    assert kinds(incident, ENDED + timedelta(days=400)) == ["recordings", "snapshots", "fixes", "caller_phone"]


def test_zero_days_keeps_a_kind_for_ever():
    assert "conversation" not in kinds({"ended_at": ENDED, "held_at": None}, ENDED + timedelta(days=10_000))


def test_an_open_incident_and_a_held_one_are_never_due():
    later = ENDED + timedelta(days=10_000)
    assert kinds({"ended_at": None, "held_at": None}, later) == []
    assert kinds({"ended_at": ENDED, "held_at": ENDED}, later) == []
    assert next_due({"ended_at": ENDED, "held_at": ENDED}, SETTINGS) is None


def test_the_reason_says_how_long_the_kind_is_kept():
    (due,) = due_kinds({"ended_at": ENDED, "held_at": None}, SETTINGS, ENDED + timedelta(days=8))
    assert due.due_at == ENDED + timedelta(days=7) and due.reason == "caller phone kept 7 days after the incident ended"


def test_the_next_kind_due_is_the_soonest():
    assert next_due({"ended_at": ENDED, "held_at": None}, SETTINGS) == (ENDED + timedelta(days=7), "caller_phone")
