"""The digest's numbers from what was gathered: pure (no Discord, no I/O).

:meth:`cogs.digest.service.DigestService.compute` gathers one :class:`DigestInputs` (the
digest's own aggregates and every other feature's counts, through their public services);
these functions turn it into each student's :class:`~cogs.digest.rules.StudentFacts`, this and
last week's :class:`~cogs.digest.rules.WeekTotals`, the chart's points, the highlights and the
title. The rules that read those (needs attention, the per-student table, the layout) are in
:mod:`cogs.digest.rules`.

The other features' values are described by protocols (a pure module imports no other
feature): only the attributes read here. ``None`` for a feature's data means the feature is
not installed, and its numbers read "not available", never zero.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from cogs.digest.rules import (
    FollowUp,
    FollowUpState,
    StudentFacts,
    WeekTotals,
    follow_up_expired,
)

__all__ = [
    "DigestInputs",
    "IntroAggregate",
    "StudentRef",
    "WeekPoint",
    "chart_points",
    "csv_name",
    "digest_title",
    "highlights",
    "student_facts",
    "week_totals",
]

Windows = Sequence[tuple[datetime, datetime]]


@dataclass(frozen=True)
class StudentRef:
    user_id: int
    name: str
    joined_at: datetime | None


@dataclass
class IntroAggregate:
    introduced_at: dict[int, datetime] = field(default_factory=dict)  # first posted
    arrived_at: dict[int, datetime] = field(default_factory=dict)
    welcomed_by: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WeekPoint:
    """One 7-day window of the chart (``week_start`` is its first local day)."""

    week_start: date
    active: int
    answers: int | None
    replies: int | None


class ActivityCounts(Protocol):
    """:class:`cogs.digest.repository.ActivityAggregate`."""

    @property
    def events(self) -> Mapping[int, Sequence[int]]: ...
    @property
    def last_active(self) -> Mapping[int, datetime]: ...


class PromptCounts(Protocol):
    """The prompts feature's ``window_counts``: per student, one count per window."""

    @property
    def available(self) -> bool: ...
    @property
    def answers(self) -> Mapping[int, Sequence[int]]: ...
    @property
    def replies_substantive(self) -> Mapping[int, Sequence[int]]: ...
    @property
    def replies_short(self) -> Mapping[int, Sequence[int]]: ...
    @property
    def replies_received(self) -> Mapping[int, Sequence[int]]: ...
    @property
    def answers_total(self) -> Mapping[int, int]: ...
    @property
    def replies_given_total(self) -> Mapping[int, int]: ...
    @property
    def unanswered(self) -> Mapping[int, int]: ...
    @property
    def most_replied(self) -> tuple[int, int, int, int] | None: ...


class PulseLines(Protocol):
    def lines(self) -> list[str]: ...


class CoffeeWeek(Protocol):
    """The coffee shop's ``week_stats`` for one week."""

    @property
    def kudos_given(self) -> Mapping[int, int]: ...
    @property
    def celebrations(self) -> int: ...
    @property
    def rough_weeks(self) -> int: ...
    @property
    def milestone_total(self) -> int: ...
    @property
    def reach_out_user_ids(self) -> Sequence[int]: ...
    @property
    def pulse(self) -> PulseLines: ...


class ChatWeek(Protocol):
    """The coffee chats' ``week_outcomes``: who was matched, their answer, who met."""

    @property
    def outcomes(self) -> Mapping[int, str | None]: ...
    @property
    def matched(self) -> Set[int]: ...
    @property
    def met(self) -> Set[int]: ...


class FollowUpNote(Protocol):
    """:class:`cogs.digest.repository.FollowUpRecord`."""

    @property
    def state(self) -> FollowUpState: ...
    @property
    def lead_id(self) -> int | None: ...
    @property
    def updated_at(self) -> datetime: ...


class AwayNote(Protocol):
    @property
    def until(self) -> date: ...


@dataclass(frozen=True)
class DigestInputs:
    """Everything one digest reads, gathered for a cohort at ``as_of`` (see the service)."""

    #: 7-day windows ending at ``as_of``, newest first (at least two: this week, last week)
    windows: Windows
    activity: ActivityCounts
    intros: IntroAggregate
    prompts: PromptCounts
    coffee_now: CoffeeWeek
    coffee_then: CoffeeWeek
    away: Mapping[int, AwayNote]
    dm_closed: Collection[int]
    follow_ups: Mapping[int, FollowUpNote]
    #: None: coffee chats are not installed
    match_now: ChatWeek | None = None
    match_then: ChatWeek | None = None
    matched_twice: Set[int] = frozenset()
    reported: Set[int] = frozenset()
    #: alumni mentors (None: not installed): who has a mentor, and the digest's line
    with_mentor: Set[int] | None = None
    mentor_line: str | None = None


def _window(values: Mapping[int, Sequence[int]], user_id: int, k: int) -> int:
    counts = values.get(user_id)
    return counts[k] if counts else 0


def _total(values: Mapping[int, Sequence[int]], k: int) -> int:
    return sum(_window(values, u, k) for u in values)


def _follow_up(
    record: FollowUpNote | None, as_of: datetime, name_of: Callable[[int], str]
) -> FollowUp | None:
    if record is None:
        return None
    return FollowUp(
        record.state,
        record.lead_id or 0,
        name_of(record.lead_id) if record.lead_id else "a former lead",
        record.updated_at,
        expired=follow_up_expired(record.state, record.updated_at, as_of),
    )


def student_facts(
    students: Sequence[StudentRef],
    data: DigestInputs,
    as_of: datetime,
    name_of: Callable[[int], str],
) -> list[StudentFacts]:
    """One :class:`StudentFacts` per student, in roster order (``name_of`` names the lead of a
    follow-up)."""
    p = data.prompts
    chats = data.match_now
    reach = set(data.coffee_now.reach_out_user_ids)
    facts: list[StudentFacts] = []
    for s in students:
        uid = s.user_id
        arrived = data.intros.arrived_at.get(uid)
        facts.append(
            StudentFacts(
                user_id=uid,
                name=s.name,
                # The earlier of arriving (intro welcome) and joining the server.
                joined_at=min((t for t in (arrived, s.joined_at) if t is not None), default=None),
                last_active=data.activity.last_active.get(uid),
                events_this_week=_window(data.activity.events, uid, 0),
                events_last_week=_window(data.activity.events, uid, 1),
                introduced=uid in data.intros.introduced_at,
                welcomed_by=data.intros.welcomed_by.get(uid, 0),
                answers_this_week=_window(p.answers, uid, 0) if p.available else None,
                replies_given_this_week=(
                    _window(p.replies_substantive, uid, 0) + _window(p.replies_short, uid, 0)
                    if p.available
                    else None
                ),
                replies_received_this_week=(
                    _window(p.replies_received, uid, 0) if p.available else None
                ),
                answers_total=p.answers_total.get(uid, 0) if p.available else None,
                replies_given_total=p.replies_given_total.get(uid, 0) if p.available else None,
                unanswered_answers=p.unanswered.get(uid, 0) if p.available else None,
                away_until=data.away[uid].until if uid in data.away else None,
                dm_closed=uid in data.dm_closed,
                reach_out=uid in reach,
                matched=None if chats is None else uid in chats.matched,
                met=None if chats is None else uid in chats.met,
                matched_twice_without_meeting=None if chats is None else uid in data.matched_twice,
                reported=None if chats is None else uid in data.reported,
                follow_up=_follow_up(data.follow_ups.get(uid), as_of, name_of),
                has_mentor=None if data.with_mentor is None else uid in data.with_mentor,
            )
        )
    return facts


def _week(
    data: DigestInputs,
    ids: Set[int],
    k: int,
    coffee: CoffeeWeek,
    away: int | None,
    chats: ChatWeek | None,
) -> WeekTotals:
    """The headline numbers of window ``k`` for the students ``ids``."""
    start, end = data.windows[k]
    p = data.prompts
    met = not_yet = failed = None
    if chats is not None:
        matched = {u for u in chats.matched if u in ids}
        met_ids = {u for u in chats.met if u in ids}
        failed_ids = {u for u in matched - met_ids if chats.outcomes.get(u) == "no_connect"}
        met, failed = len(met_ids), len(failed_ids)
        not_yet = len(matched) - met - failed
    return WeekTotals(
        chats_met=met,
        chats_not_yet=not_yet,
        chats_failed=failed,
        active=sum(1 for uid in ids if _window(data.activity.events, uid, k) > 0),
        students=len(ids),
        intros=sum(
            1 for uid, t in data.intros.introduced_at.items() if uid in ids and start <= t < end
        ),
        answers=_total(p.answers, k) if p.available else None,
        replies_substantive=_total(p.replies_substantive, k) if p.available else None,
        replies_short=_total(p.replies_short, k) if p.available else None,
        kudos=sum(coffee.kudos_given.values()),
        celebrations=coffee.celebrations,
        rough_weeks=coffee.rough_weeks,
        away=away,
        milestones=coffee.milestone_total,
    )


def week_totals(data: DigestInputs, ids: Set[int]) -> tuple[WeekTotals, WeekTotals]:
    """This week's and last week's headline numbers for the students ``ids``."""
    # Away is a current state: last week's value is not kept, so it is not shown.
    away_now = sum(1 for uid in ids if uid in data.away)
    this = _week(data, ids, 0, data.coffee_now, away_now, data.match_now)
    last = _week(data, ids, 1, data.coffee_then, None, data.match_then)
    return this, last


def chart_points(data: DigestInputs, ids: Set[int], zone: ZoneInfo) -> list[WeekPoint]:
    """One point per window, oldest first, without the leading weeks where nothing happened
    (at least two points stay)."""
    p = data.prompts
    points = [
        WeekPoint(
            week_start=start.astimezone(zone).date(),
            active=sum(1 for uid in ids if _window(data.activity.events, uid, k) > 0),
            answers=_total(p.answers, k) if p.available else None,
            replies=(
                _total(p.replies_substantive, k) + _total(p.replies_short, k)
                if p.available
                else None
            ),
        )
        for k, (start, _) in enumerate(data.windows)
    ]
    points.reverse()  # oldest first
    while len(points) > 2 and not (points[0].active or points[0].answers or points[0].replies):
        points.pop(0)
    return points


def highlights(
    guild_id: int, prompts: PromptCounts, name_of: Callable[[int], str], this: WeekTotals
) -> list[str]:
    """The "highlights" lines: the most-replied answer (with its link), kudos, milestones."""
    out = []
    if not prompts.available:
        out.append("Most-replied answer: not available (prompts are not set up).")
    elif prompts.most_replied is None:
        out.append("Most-replied answer: no peer replies this week.")
    else:
        author, place, message, n = prompts.most_replied
        link = f"https://discord.com/channels/{guild_id}/{place}/{message}"
        replies = f"{n} repl{'ies' if n != 1 else 'y'}"
        out.append(f"Most-replied answer: {name_of(author)}'s — {replies} → {link}")
    out.append(f"New kudos: {this.kudos}")
    out.append(f"Milestones reached: {this.milestones}")
    return out


def digest_title(
    cohort_name: str, week: str, as_of: datetime, zone: ZoneInfo, *, final: bool = False
) -> str:
    """``week`` describes the course week the digest's last second falls in."""
    local_end = as_of.astimezone(zone)
    label = f"{week}, 7 days to {local_end.strftime('%a %b %d %H:%M')}"
    return f"{'Final' if final else 'Weekly'} digest — {cohort_name} — {label}"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "cohort"


def csv_name(cohort_name: str, as_of: datetime, zone: ZoneInfo) -> str:
    """``digest-<cohort slug>-<local date>.csv``."""
    return f"digest-{_slug(cohort_name)}-{as_of.astimezone(zone).strftime('%Y-%m-%d')}.csv"
