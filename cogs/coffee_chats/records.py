"""Coffee chats' records: the values the repositories return and take (no SQL, no I/O).

They live apart from the repositories so both repository modules
(cogs/coffee_chats/rounds_repository.py and cogs/coffee_chats/repository.py) can share them;
``cogs.coffee_chats.repository`` re-exports every one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Outcome = Literal["met", "not_yet", "no_connect"]
OUTCOMES: tuple[Outcome, ...] = ("met", "not_yet", "no_connect")
Cadence = Literal["weekly", "biweekly"]


@dataclass(frozen=True)
class MatchSettings:
    guild_id: int
    cohort_id: int
    cadence: Cadence = "weekly"
    group_size: int = 2
    half_life: float = 6.0
    preview_first: bool = False
    channel_id: int | None = None


@dataclass(frozen=True)
class Participant:
    guild_id: int
    user_id: int
    joined_at: datetime
    left_at: datetime | None
    paused_until: datetime | None
    shortfall: float
    priority: bool
    ignored_rounds: int
    stay_asked_at: datetime | None

    @property
    def joined(self) -> bool:
        return self.left_at is None

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and now < self.paused_until


@dataclass(frozen=True)
class MemberRecord:
    user_id: int
    outcome: Outcome | None = None
    outcome_at: datetime | None = None
    wants_rematch: bool = False
    dm_failed: bool = False
    quality: float | None = None
    departed: bool = False  # left the server mid-round (removed from the thread)
    chose_priority: bool = False  # "priority next round" after "Couldn't connect"


@dataclass(frozen=True)
class GroupRecord:
    group_id: int
    guild_id: int
    round_id: int
    position: int
    score: float
    reasons: tuple[str, ...]
    rematch: bool
    delivery: str
    thread_id: int | None
    followup_message_id: int | None
    archived: bool
    members: tuple[MemberRecord, ...] = ()
    attempts: int = 0  # thread creations started
    last_error: str | None = None
    announced: bool = False  # its first message is queued in the outbox

    @property
    def user_ids(self) -> tuple[int, ...]:
        return tuple(m.user_id for m in self.members)

    @property
    def present_ids(self) -> tuple[int, ...]:
        """Members who have not left the server since the round was posted."""
        return tuple(m.user_id for m in self.members if not m.departed)

    def member(self, user_id: int) -> MemberRecord | None:
        return next((m for m in self.members if m.user_id == user_id), None)

    @property
    def met(self) -> bool:
        """Met: someone said so and nobody said they couldn't connect."""
        outcomes = [m.outcome for m in self.members]
        return "met" in outcomes and "no_connect" not in outcomes


@dataclass(frozen=True)
class RoundRecord:
    round_id: int
    guild_id: int
    cohort_id: int
    round_index: int
    status: str
    seed: int
    group_size: int
    week_start: datetime
    slot: str | None
    created_at: datetime
    posted_at: datetime | None
    followup_at: datetime | None
    followup_done: bool
    ends_at: datetime | None
    ended_at: datetime | None
    delivered_at: datetime | None = None
    fairness_saved: bool = False


@dataclass(frozen=True)
class NewGroup:
    members: tuple[int, ...]
    score: float
    reasons: tuple[str, ...] = ()
    rematch: bool = False
    quality: tuple[tuple[int, float], ...] = ()  # (user_id, matcher quality)


@dataclass(frozen=True)
class WeekOutcomes:
    """Per student matched in rounds posted in the window: their answer (None = no answer)."""

    outcomes: dict[int, Outcome | None] = field(default_factory=dict)
    met: set[int] = field(default_factory=set)  # students whose group met (see GroupRecord.met)

    @property
    def matched(self) -> set[int]:
        return set(self.outcomes)

    def count(self, outcome: Outcome | None) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)
