"""The nudge policy: who gets a nudge and why not, pure and property-tested."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cogs.nudges.rules import Caps, NudgeFacts, decide, dedupe_key


def facts(**changes: object) -> NudgeFacts:
    base: dict[str, object] = {
        "is_student": True,
        "week_running": True,
        "kind_enabled": True,
        "opted_in": True,
        "away": False,
        "dm_closed": False,
        "already_queued": False,
        "sent_this_week": 0,
        "sent_this_week_kind": 0,
    }
    base.update(changes)
    return NudgeFacts(**base)  # type: ignore[arg-type]


def test_policy_reasons_in_order() -> None:
    caps = Caps(per_week=2, per_kind=1)
    assert decide(facts(), caps) == "send"
    assert decide(facts(is_student=False, opted_in=False), caps) == "staff"
    assert decide(facts(week_running=False), caps) == "not_running"
    assert decide(facts(opted_in=False), caps) == "not_opted_in"
    assert decide(facts(away=True), caps) == "away"
    assert decide(facts(dm_closed=True), caps) == "dm_closed"
    assert decide(facts(already_queued=True), caps) == "already_queued"
    assert decide(facts(sent_this_week=2), caps) == "weekly_cap"
    assert decide(facts(sent_this_week=1, sent_this_week_kind=1), caps) == "kind_cap"


@given(
    sent=st.integers(0, 10),
    sent_kind=st.integers(0, 10),
    per_week=st.integers(0, 5),
    per_kind=st.integers(0, 5),
    flags=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_policy_never_sends_beyond_a_cap_or_without_consent(
    sent: int, sent_kind: int, per_week: int, per_kind: int, flags: list[bool]
) -> None:
    f = facts(
        is_student=flags[0],
        week_running=flags[1],
        kind_enabled=flags[2],
        opted_in=flags[3],
        away=flags[4],
        dm_closed=flags[5],
        sent_this_week=sent,
        sent_this_week_kind=min(sent, sent_kind),
    )
    if decide(f, Caps(per_week, per_kind)) == "send":
        assert all(flags[:4]) and not flags[4] and not flags[5]
        assert sent < per_week and min(sent, sent_kind) < per_kind


def test_dedupe_key_is_per_kind_student_and_week() -> None:
    assert dedupe_key("checkin", 5, "2026-09-07") == "nudge:checkin:5:2026-09-07"
    assert dedupe_key("intro", 5, "2026-09-07", "second") == "nudge:intro:5:2026-09-07:second"
