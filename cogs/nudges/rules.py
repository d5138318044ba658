"""Who may get a nudge: the rules the engine applies to every candidate (pure, no I/O).

A feature says who is *eligible* for its kind of nudge ("no activity for 10 days"); this
module decides whether that person is actually sent one. The checks run in a fixed order so
the preview can say the first reason a student is left out:

staff / not a student → calendar (break, not running) → kind switched off → not opted in →
away → DMs closed → already queued (dedupe) → weekly cap for all kinds → cap for this kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "DEFAULT_INACTIVE_DAYS",
    "DEFAULT_PER_KIND_CAP",
    "DEFAULT_WEEKLY_CAP",
    "REASON_TEXT",
    "Caps",
    "NudgeFacts",
    "Reason",
    "decide",
    "dedupe_key",
]

DEFAULT_WEEKLY_CAP: Final = 2
DEFAULT_PER_KIND_CAP: Final = 1
DEFAULT_INACTIVE_DAYS: Final = 10

Reason = Literal[
    "send",
    "staff",
    "not_running",
    "kind_off",
    "not_opted_in",
    "away",
    "dm_closed",
    "already_queued",
    "weekly_cap",
    "kind_cap",
]

REASON_TEXT: Final[dict[str, str]] = {
    "send": "will be nudged",
    "staff": "staff are never nudged",
    "not_running": "the course is not in a teaching week",
    "kind_off": "this kind of nudge is switched off",
    "not_opted_in": "has not opted in to reminders",
    "away": "is away",
    "dm_closed": "has DMs from server members closed",
    "already_queued": "already has this nudge queued this week",
    "weekly_cap": "reached the weekly cap",
    "kind_cap": "reached the cap for this kind",
}


@dataclass(frozen=True)
class Caps:
    per_week: int = DEFAULT_WEEKLY_CAP  # all kinds together, per student per course week
    per_kind: int = DEFAULT_PER_KIND_CAP  # this kind, per student per course week

    def __post_init__(self) -> None:
        if self.per_week < 0 or self.per_kind < 0:
            raise ValueError("caps are never negative")


@dataclass(frozen=True)
class NudgeFacts:
    is_student: bool
    week_running: bool
    kind_enabled: bool
    opted_in: bool
    away: bool
    dm_closed: bool
    already_queued: bool
    sent_this_week: int  # nudges of every kind queued for this student this course week
    sent_this_week_kind: int  # of this kind


def decide(facts: NudgeFacts, caps: Caps) -> Reason:
    """``"send"`` or the first reason the student is not nudged."""
    if not facts.is_student:
        return "staff"
    if not facts.week_running:
        return "not_running"
    if not facts.kind_enabled:
        return "kind_off"
    if not facts.opted_in:
        return "not_opted_in"
    if facts.away:
        return "away"
    if facts.dm_closed:
        return "dm_closed"
    if facts.already_queued:
        return "already_queued"
    if facts.sent_this_week >= caps.per_week:
        return "weekly_cap"
    if facts.sent_this_week_kind >= caps.per_kind:
        return "kind_cap"
    return "send"


def dedupe_key(kind: str, user_id: int, week_key: str, suffix: str | None = None) -> str:
    """The outbox dedupe key of a nudge: one per kind, student and course week (and suffix)."""
    base = f"nudge:{kind}:{user_id}:{week_key}"
    return f"{base}:{suffix}" if suffix else base
