"""The weekly digest for cohort leads: pure statistics and layout (no Discord, no I/O).

Everything here is a function of plain values; the current instant (``as_of``, the moment
the digest is made) is always passed in.

Weeks
=====
"This week" is the 7 days before the digest, ``[as_of - 7 days, as_of)``, "last week" the
7 days before that, counted on the course time zone's wall clock (:func:`week_windows`), so
leads compare like with like whichever day the digest is scheduled. The chart uses the same
7-day windows going back up to 12 weeks.

Needs attention (based on Discord activity only)
================================================
One row per student, with every reason that applies; rows are sorted by their most urgent
reason (the order below), then by more reasons, longer inactivity, name and id. With the
default :class:`DigestSettings`:

1. ``reach_out`` — asked "please reach out to me" in a pulse this week.
2. ``reported`` — a classmate reported something to staff this week (matching; hook).
3. ``drifting`` — no activity for >= ``drift_days`` (14) whole days, counted from the last
   activity or, with none, from when they joined (a join time after ``as_of`` counts as
   ``as_of``; an unknown one as "long ago").
4. ``unanswered`` — an answer written between ``unanswered_window_days`` (14) days and
   ``unanswered_after_hours`` (48) hours before the digest has no peer reply yet.
5. ``dm_closed`` — the bot's DMs to them bounce, so reminders cannot reach them.
6. ``no_meeting`` — matched twice without meeting (matching; hook).
7. ``never_introduced`` — no intro posted, and joined >= ``intro_grace_days`` (7) days ago.
8. ``not_replying`` — >= ``not_replying_answers`` (2) answers so far but never a peer reply.
9. ``away`` — said ``/away``: an away student who would be drifting (or never introduced, or
   not replying) is listed as away instead, with the date they are back; urgent reasons
   (reach out, reported, unanswered, DMs closed) still apply.

A rule whose data is not available (the feature is not installed) is not evaluated, and the
digest says which numbers are not available instead of showing zeros.

Follow-ups
==========
A lead marks a listed student "I'll reach out", "Contacted" or "Excused" (or clears it). The
state carries over to later digests for :data:`FOLLOW_UP_CARRY_DAYS` days after it was set
(reaching out and contacted: 14, excused: 28), then the row reads "nobody yet" again, with the
earlier state shown: a student still on the list two weeks after a contact needs a new look.

Limits and layout
=================
:func:`paginate` lays the digest out in messages that fit Discord's limits (2,000 characters
of content, 10 embeds, 6,000 characters per embed, 4,096 per description, 25 fields of 1,024,
5 action rows): nothing is cut, every needs-attention row appears exactly once. Follow-up
buttons go to the :data:`FOLLOW_UP_BUTTON_ROWS` (25) most urgent rows that are still *open*
(nobody took them, or someone is reaching out, or the state expired), five to a message with
their full reasons; every other row is one line on compact list pages (about 50 a message).
Leads act on those with ``/digest follow-up``; the CSV has everything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

from bot.text import EMBED_LIMITS, MESSAGE_LIMIT, discord_time

__all__ = [
    "ATTENTION_LABEL",
    "FOLLOW_UP_BUTTON_ROWS",
    "FOLLOW_UP_CARRY_DAYS",
    "FOLLOW_UP_LABELS",
    "LIST_LABEL",
    "NOT_AVAILABLE",
    "REASONS",
    "AttentionRow",
    "DigestSettings",
    "EmbedSpec",
    "FieldSpec",
    "FollowUp",
    "FollowUpState",
    "HeadlineLine",
    "MessageSpec",
    "StudentFacts",
    "StudentRow",
    "WeekTotals",
    "follow_up_expired",
    "headline",
    "needs_attention",
    "paginate",
    "student_rows",
    "trend",
    "week_windows",
]

NOT_AVAILABLE: Final = "not available"
ATTENTION_LABEL: Final = "Needs attention — based on Discord activity only"
#: Title of the compact list pages (rows without buttons).
LIST_LABEL: Final = "Needs attention — the rest of the list"
ROWS_PER_ATTENTION_MESSAGE: Final = 5  # one action row of buttons per student, 5 rows max
#: Rows with follow-up buttons per digest (5 messages); the rest are compact list lines.
FOLLOW_UP_BUTTON_ROWS: Final = 25

FollowUpState = Literal["reaching_out", "contacted", "excused"]
FOLLOW_UP_LABELS: Final[Mapping[str, str]] = {
    "reaching_out": "🙋 {lead} is reaching out",
    "contacted": "✅ contacted by {lead}",
    "excused": "🟦 excused by {lead}",
}
#: How long a follow-up state carries over to later digests (days after it was set).
FOLLOW_UP_CARRY_DAYS: Final[Mapping[str, int]] = {
    "reaching_out": 14,
    "contacted": 14,
    "excused": 28,
}

Reason = Literal[
    "reach_out",
    "reported",
    "drifting",
    "unanswered",
    "dm_closed",
    "no_meeting",
    "never_introduced",
    "not_replying",
    "away",
]
#: Most urgent first (the order of ``Reason``); the index is the urgency.
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)
_URGENCY: Final = {reason: index for index, reason in enumerate(REASONS)}
#: Rules an away student is excused from (listed as away instead).
_AWAY_REPLACES: Final = frozenset({"drifting", "never_introduced", "not_replying"})


@dataclass(frozen=True)
class DigestSettings:
    drift_days: int = 14
    intro_grace_days: int = 7
    unanswered_after_hours: int = 48
    unanswered_window_days: int = 14
    not_replying_answers: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.drift_days <= 90:
            raise ValueError("drift_days must be 1–90")
        if not 0 <= self.intro_grace_days <= 90:
            raise ValueError("intro_grace_days must be 0–90")


def follow_up_expired(state: str, updated_at: datetime, as_of: datetime) -> bool:
    """True once a follow-up is :data:`FOLLOW_UP_CARRY_DAYS` days old (or more)."""
    return as_of - updated_at >= timedelta(days=FOLLOW_UP_CARRY_DAYS.get(state, 14))


@dataclass(frozen=True)
class FollowUp:
    state: FollowUpState
    lead_id: int
    lead_name: str
    updated_at: datetime
    #: older than FOLLOW_UP_CARRY_DAYS at the digest: shown as "nobody yet (earlier: …)"
    expired: bool = False

    def label(self) -> str:
        return FOLLOW_UP_LABELS[self.state].format(lead=self.lead_name)

    def line(self) -> str:
        """What the digest shows after "Follow-up:"."""
        stamp = f"{discord_time(self.updated_at, 'R')}"
        if self.expired:
            return f"nobody yet (earlier: {self.label()} {stamp})"
        return f"{self.label()} ({stamp})"


@dataclass(frozen=True)
class StudentFacts:
    """What the digest knows about one student. ``None`` means "not available" (the feature
    that would know is not installed), never zero."""

    user_id: int
    name: str
    joined_at: datetime | None
    last_active: datetime | None
    events_this_week: int = 0
    events_last_week: int = 0
    introduced: bool | None = None
    welcomed_by: int | None = None
    answers_this_week: int | None = None
    replies_given_this_week: int | None = None
    replies_received_this_week: int | None = None
    answers_total: int | None = None
    replies_given_total: int | None = None
    unanswered_answers: int | None = None
    away_until: date | None = None
    dm_closed: bool | None = None
    reach_out: bool | None = None
    matched: bool | None = None
    met: bool | None = None
    matched_twice_without_meeting: bool | None = None
    reported: bool | None = None
    follow_up: FollowUp | None = None
    has_mentor: bool | None = None


# ---------------------------------------------------------------------- weeks


def week_windows(as_of: datetime, zone: ZoneInfo, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` 7-day windows ending at ``as_of``, newest first, as aware UTC (start, end).

    Window k is [as_of - 7(k+1) days, as_of - 7k days) on the local wall clock, so a DST
    change never shifts a boundary by an hour.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if count < 1:
        raise ValueError("count must be at least 1")
    local = as_of.astimezone(zone).replace(tzinfo=None)

    def at(days: int) -> datetime:
        return (local - timedelta(days=days)).replace(tzinfo=zone).astimezone(UTC)

    return [(at(7 * (k + 1)), at(7 * k)) for k in range(count)]


def trend(this_week: int, last_week: int) -> str:
    """ "up", "down", "steady" or "quiet" from this week's activity against last week's.

    A change counts when it is at least 2 events and at least a quarter of last week's.
    """
    if this_week == 0 and last_week == 0:
        return "quiet"
    change = this_week - last_week
    needed = max(2, math.ceil(last_week / 4))
    if change >= needed:
        return "up"
    if -change >= needed:
        return "down"
    return "steady"


# ---------------------------------------------------------------------- headline


@dataclass(frozen=True)
class WeekTotals:
    """The cohort's numbers for one 7-day window. ``None``: not available."""

    active: int
    students: int
    intros: int | None = None
    answers: int | None = None
    replies_substantive: int | None = None
    replies_short: int | None = None
    chats_met: int | None = None
    chats_not_yet: int | None = None
    chats_failed: int | None = None
    kudos: int | None = None
    celebrations: int | None = None
    rough_weeks: int | None = None
    away: int | None = None
    milestones: int | None = None

    @property
    def replies(self) -> int | None:
        if self.replies_substantive is None or self.replies_short is None:
            return None
        return self.replies_substantive + self.replies_short

    @property
    def replies_per_answer(self) -> float | None:
        replies = self.replies
        if replies is None or self.answers is None or self.answers == 0:
            return None
        return replies / self.answers


@dataclass(frozen=True)
class HeadlineLine:
    label: str
    this_week: str
    last_week: str
    arrow: str

    def value(self) -> str:
        if self.this_week == NOT_AVAILABLE:
            return NOT_AVAILABLE
        arrow = f" {self.arrow}" if self.arrow else ""
        return f"**{self.this_week}**{arrow} (last week {self.last_week})"

    def text(self) -> str:
        return f"{self.label}: {self.value()}"


def _fmt(value: int | float | None) -> str:
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _arrow(this: int | float | None, last: int | float | None) -> str:
    if this is None or last is None:
        return ""
    return "↑" if this > last else "↓" if this < last else "→"


def headline(this: WeekTotals, last: WeekTotals) -> list[HeadlineLine]:
    """This week against last week, one line per number (in the issue's order)."""
    rows: list[tuple[str, int | float | None, int | float | None]] = [
        ("Students active", this.active, last.active),
        ("Intros written", this.intros, last.intros),
        ("Prompt answers", this.answers, last.answers),
        ("Peer replies, substantive", this.replies_substantive, last.replies_substantive),
        ("Peer replies, short", this.replies_short, last.replies_short),
        ("Replies per answer", this.replies_per_answer, last.replies_per_answer),
        # Counted in students (a pair that met is 2), so leads can compare with the roster.
        ("Coffee chats met (students)", this.chats_met, last.chats_met),
        ("Coffee chats not yet (students)", this.chats_not_yet, last.chats_not_yet),
        ("Coffee chats couldn't connect (students)", this.chats_failed, last.chats_failed),
        ("Kudos", this.kudos, last.kudos),
        ("Celebrations", this.celebrations, last.celebrations),
        ("Rough-week posts", this.rough_weeks, last.rough_weeks),
        ("Students away", this.away, last.away),
    ]
    lines = []
    for label, now_value, then_value in rows:
        if label == "Students active":
            lines.append(
                HeadlineLine(
                    label,
                    f"{this.active} of {this.students}",
                    f"{last.active} of {last.students}",
                    _arrow(now_value, then_value),
                )
            )
            continue
        shown_last = _fmt(then_value)
        if label == "Replies per answer" and then_value is None and last.answers == 0:
            shown_last = "no answers"
        shown = _fmt(now_value)
        if label == "Replies per answer" and now_value is None and this.answers == 0:
            shown = "no answers"
        lines.append(HeadlineLine(label, shown, shown_last, _arrow(now_value, then_value)))
    return lines


# ---------------------------------------------------------------------- needs attention


@dataclass(frozen=True)
class AttentionRow:
    user_id: int
    name: str
    reasons: tuple[tuple[Reason, str], ...]  # (code, plain words), most urgent first
    days_inactive: int
    follow_up: FollowUp | None

    @property
    def urgency(self) -> int:
        return _URGENCY[self.reasons[0][0]]

    @property
    def codes(self) -> tuple[Reason, ...]:
        return tuple(code for code, _ in self.reasons)

    @property
    def is_open(self) -> bool:
        """Still needs someone: nobody took it, someone is reaching out, or it expired."""
        follow = self.follow_up
        return follow is None or follow.expired or follow.state == "reaching_out"


def days_inactive(facts: StudentFacts, as_of: datetime) -> int:
    """Whole days since the last activity, or since joining when there was none."""
    reference = facts.last_active or facts.joined_at
    if reference is None:
        return 10_000  # unknown join: "long ago"
    reference = min(reference, as_of)
    return (as_of - reference) // timedelta(days=1)


def _reasons(
    facts: StudentFacts, as_of: datetime, settings: DigestSettings
) -> list[tuple[Reason, str]]:
    found: list[tuple[Reason, str]] = []
    idle = days_inactive(facts, as_of)
    if facts.reach_out:
        found.append(("reach_out", "asked to be contacted (pulse: “please reach out to me”)"))
    if facts.reported:
        found.append(("reported", "a report to staff mentions them"))
    if idle >= settings.drift_days:
        if facts.last_active is not None:
            words = f"no activity for {idle} days"
        elif idle >= 10_000:
            words = "no activity recorded (join date unknown)"
        else:
            words = f"no activity since joining {idle} days ago"
        found.append(("drifting", words))
    if facts.unanswered_answers:
        n = facts.unanswered_answers
        found.append(("unanswered", f"{n} prompt answer{'s' if n != 1 else ''} with no replies"))
    if facts.dm_closed:
        found.append(("dm_closed", "DMs closed: reminders can't reach them"))
    if facts.matched_twice_without_meeting:
        found.append(("no_meeting", "matched twice without meeting"))
    if facts.introduced is False:
        joined = facts.joined_at
        joined_days = (
            10_000 if joined is None else (as_of - min(joined, as_of)) // timedelta(days=1)
        )
        if joined_days >= settings.intro_grace_days:
            found.append(("never_introduced", "never introduced themselves"))
    if (
        facts.answers_total is not None
        and facts.replies_given_total is not None
        and facts.answers_total >= settings.not_replying_answers
        and facts.replies_given_total == 0
    ):
        found.append(
            ("not_replying", f"{facts.answers_total} answers, never replied to a classmate")
        )
    if facts.away_until is not None:
        excused = [code for code, _ in found if code in _AWAY_REPLACES]
        found = [(code, words) for code, words in found if code not in _AWAY_REPLACES]
        if excused:
            found.append(("away", f"away until {facts.away_until.isoformat()} (said /away)"))
    return sorted(found, key=lambda item: _URGENCY[item[0]])


def needs_attention(
    students: Iterable[StudentFacts], as_of: datetime, settings: DigestSettings
) -> list[AttentionRow]:
    """Every student with at least one reason, most urgent first (see the module doc)."""
    rows = []
    for facts in students:
        reasons = _reasons(facts, as_of, settings)
        if not reasons:
            continue
        rows.append(
            AttentionRow(
                user_id=facts.user_id,
                name=facts.name,
                reasons=tuple(reasons),
                days_inactive=days_inactive(facts, as_of),
                follow_up=facts.follow_up,
            )
        )
    rows.sort(
        key=lambda r: (r.urgency, -len(r.reasons), -r.days_inactive, r.name.casefold(), r.user_id)
    )
    return rows


# ---------------------------------------------------------------------- per-student table


STUDENT_COLUMNS: Final = (
    "name",
    "user_id",
    "introduced",
    "welcomed_by",
    "matched",
    "met",
    "answers",
    "replies_given",
    "replies_received",
    "activity_this_week",
    "activity_last_week",
    "last_active",
    "trend",
    "away_until",
    "follow_up",
    "follow_up_by",
    "needs_attention",
    "has_mentor",
)


@dataclass(frozen=True)
class StudentRow:
    values: tuple[str, ...]  # in STUDENT_COLUMNS order

    def as_dict(self) -> dict[str, str]:
        return dict(zip(STUDENT_COLUMNS, self.values, strict=True))


def _yes_no(value: bool | None) -> str:
    return NOT_AVAILABLE if value is None else ("yes" if value else "no")


def _count(value: int | None) -> str:
    return NOT_AVAILABLE if value is None else str(value)


def student_rows(
    students: Iterable[StudentFacts],
    attention: Sequence[AttentionRow],
    zone: ZoneInfo,
) -> list[StudentRow]:
    """One row per student, sorted by name then id (the CSV and /digest export)."""
    reasons = {row.user_id: "; ".join(words for _, words in row.reasons) for row in attention}
    rows = []
    for s in sorted(students, key=lambda f: (f.name.casefold(), f.user_id)):
        last = s.last_active.astimezone(zone).strftime("%Y-%m-%d %H:%M") if s.last_active else ""
        rows.append(
            StudentRow(
                (
                    s.name,
                    str(s.user_id),
                    _yes_no(s.introduced),
                    _count(s.welcomed_by),
                    _yes_no(s.matched),
                    _yes_no(s.met),
                    _count(s.answers_this_week),
                    _count(s.replies_given_this_week),
                    _count(s.replies_received_this_week),
                    str(s.events_this_week),
                    str(s.events_last_week),
                    last,
                    trend(s.events_this_week, s.events_last_week),
                    s.away_until.isoformat() if s.away_until else "",
                    s.follow_up.state if s.follow_up and not s.follow_up.expired else "",
                    s.follow_up.lead_name if s.follow_up and not s.follow_up.expired else "",
                    reasons.get(s.user_id, ""),
                    _yes_no(s.has_mentor),
                )
            )
        )
    return rows


# ---------------------------------------------------------------------- layout


@dataclass(frozen=True)
class FieldSpec:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class EmbedSpec:
    title: str = ""
    description: str = ""
    fields: tuple[FieldSpec, ...] = ()
    footer: str = ""
    image: str | None = None  # "attachment://chart.png"

    @property
    def total(self) -> int:
        """Characters Discord counts towards the 6,000 limit."""
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer)
            + sum(len(f.name) + len(f.value) for f in self.fields)
        )

    def within_limits(self) -> bool:
        return (
            len(self.title) <= EMBED_LIMITS.title
            and len(self.description) <= EMBED_LIMITS.description
            and len(self.fields) <= EMBED_LIMITS.fields
            and all(
                0 < len(f.name) <= EMBED_LIMITS.field_name
                and 0 < len(f.value) <= EMBED_LIMITS.field_value
                for f in self.fields
            )
            and len(self.footer) <= 2048
            and self.total <= EMBED_LIMITS.total
        )


@dataclass(frozen=True)
class MessageSpec:
    content: str = ""
    embeds: tuple[EmbedSpec, ...] = ()
    #: (position shown on the buttons, student id): one row of follow-up buttons each
    buttons: tuple[tuple[int, int], ...] = ()
    attach_files: bool = False
    #: a compact page of the needs-attention list (left out of the DM copy)
    list_page: bool = False

    def within_limits(self) -> bool:
        return (
            len(self.content) <= MESSAGE_LIMIT
            and len(self.embeds) <= EMBED_LIMITS.per_message
            and all(e.within_limits() for e in self.embeds)
            and sum(e.total for e in self.embeds) <= EMBED_LIMITS.total
            and len(self.buttons) <= ROWS_PER_ATTENTION_MESSAGE
        )


def split_text(text: str, limit: int) -> list[str]:
    """Split into pieces of at most ``limit`` characters, preferring line breaks (each piece
    keeps its own line breaks); ``"".join(pieces) == text`` always."""
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    current = ""
    for line in re.split(r"(?<=\n)", text):
        while len(line) > limit:  # a line longer than a piece: split it hard
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return pieces


def _field_pieces(name: str, value: str) -> list[FieldSpec]:
    """A field, continued in more fields ("… (cont.)") when its value is over 1,024."""
    name = name[: EMBED_LIMITS.field_name] or "—"
    values = split_text(value or "—", EMBED_LIMITS.field_value)
    out = []
    for index, piece in enumerate(values):
        label = name if index == 0 else f"{name[: EMBED_LIMITS.field_name - 8]} (cont.)"
        out.append(FieldSpec(label, piece if piece.strip() else "—"))
    return out


def pack_fields(
    title: str, description: str, fields: Sequence[FieldSpec], footer: str = ""
) -> list[EmbedSpec]:
    """As many embeds as needed so each holds <= 25 fields and <= 6,000 characters; the
    description goes on the first (split across embeds when over 4,096)."""
    title = title[: EMBED_LIMITS.title]
    descriptions = split_text(description, EMBED_LIMITS.description) if description else [""]
    embeds: list[EmbedSpec] = [EmbedSpec(title=title, description=d) for d in descriptions]
    current = embeds.pop()
    for spec in fields:
        for piece in _field_pieces(spec.name, spec.value):
            candidate = replace(current, fields=(*current.fields, piece))
            if (
                len(candidate.fields) > EMBED_LIMITS.fields
                or candidate.total + len(footer) > EMBED_LIMITS.total
            ):
                embeds.append(current)
                current = EmbedSpec(title=f"{title[: EMBED_LIMITS.title - 8]} (cont.)")
                current = replace(current, fields=(piece,))
            else:
                current = candidate
    embeds.append(current)
    if footer:
        embeds[-1] = replace(embeds[-1], footer=footer[: EMBED_LIMITS.footer])
    return embeds


def group_messages(
    embeds: Sequence[EmbedSpec], content: str = "", attach_files: bool = False
) -> list[MessageSpec]:
    """Embeds into messages of <= 10 embeds and <= 6,000 characters in all."""
    messages: list[MessageSpec] = []
    batch: list[EmbedSpec] = []
    for embed in embeds:
        if batch and (
            len(batch) >= EMBED_LIMITS.per_message
            or sum(e.total for e in batch) + embed.total > EMBED_LIMITS.total
        ):
            messages.append(MessageSpec(embeds=tuple(batch)))
            batch = []
        batch.append(embed)
    if batch or not messages:
        messages.append(MessageSpec(embeds=tuple(batch)))
    first = messages[0]
    messages[0] = replace(first, content=content[:MESSAGE_LIMIT], attach_files=attach_files)
    return messages


def attention_field(position: int, row: AttentionRow) -> FieldSpec:
    lines = [f"<@{row.user_id}>"]
    lines.extend(f"• {words}" for _, words in row.reasons)
    follow = row.follow_up
    lines.append(f"Follow-up: {follow.line() if follow is not None else 'nobody yet'}")
    return FieldSpec(f"{position}. {row.name}", "\n".join(lines))


def attention_line(position: int, row: AttentionRow) -> str:
    """One row of a compact list page (no buttons): name, mention, reasons, follow-up."""
    name = " ".join(row.name.split()) or "—"
    line = f"{position}. {name} (<@{row.user_id}>) — " + "; ".join(w for _, w in row.reasons)
    if row.follow_up is not None:
        line += f" · {row.follow_up.line()}"
    return line


#: Short words for the reasons, for the count line at the top of the list.
REASON_SHORT: Final[Mapping[str, str]] = {
    "reach_out": "asked to be contacted",
    "reported": "named in a report",
    "drifting": "drifting",
    "unanswered": "answer without replies",
    "dm_closed": "DMs closed",
    "no_meeting": "matched twice without meeting",
    "never_introduced": "never introduced",
    "not_replying": "never replies",
    "away": "away",
}


def reason_counts(rows: Sequence[AttentionRow]) -> str:
    """ "3 asked to be contacted · 800 drifting · …" (a student counts once per reason)."""
    counts = {code: 0 for code in REASONS}
    for row in rows:
        for code in set(row.codes):
            counts[code] += 1
    return " · ".join(f"{n:,} {REASON_SHORT[code]}" for code, n in counts.items() if n)


def _list_pages(lines: Sequence[str], title: str) -> list[MessageSpec]:
    """Lines packed into as few messages as the limits allow (several embeds a message, each
    description <= 4,096, <= 6,000 characters a message); a line is never split unless it is
    longer than a description on its own. Titles get "(page/pages)"."""
    title = title[: EMBED_LIMITS.title - 12]
    reserve = len(title) + 12  # the "(999/999)" the title gets
    limit = EMBED_LIMITS.description
    pieces = [piece for line in lines for piece in split_text(line, limit)]
    pages: list[list[str]] = []
    for piece in pieces:
        page = pages[-1] if pages else None
        if page is not None:
            used = reserve + sum(len(d) for d in page)
            if page[-1] and len(page[-1]) + 1 + len(piece) <= limit:
                if used + 1 + len(piece) <= EMBED_LIMITS.total:
                    page[-1] += "\n" + piece
                    continue
            elif len(page) < EMBED_LIMITS.per_message and used + len(piece) <= EMBED_LIMITS.total:
                page.append(piece)
                continue
        pages.append([piece])
    messages = []
    for number, page in enumerate(pages, start=1):
        heading = f"{title} ({number}/{len(pages)})"
        embeds = [
            EmbedSpec(title=heading if i == 0 else "", description=d) for i, d in enumerate(page)
        ]
        messages.append(MessageSpec(embeds=tuple(embeds), list_page=True))
    return messages


def attention_messages(
    rows: Sequence[AttentionRow], cohort_name: str, *, button_rows: int = FOLLOW_UP_BUTTON_ROWS
) -> list[MessageSpec]:
    """The needs-attention list: the ``button_rows`` most urgent open rows five to a message
    with their buttons, then every other row (in list order, with its position) on compact
    list pages. Each row appears exactly once."""
    total = len(rows)
    footer = "Based on Discord activity only: a quiet student may be fine."
    if total == 0:
        return [
            MessageSpec(
                embeds=(
                    EmbedSpec(
                        title=ATTENTION_LABEL[: EMBED_LIMITS.title],
                        description=f"Nobody in {cohort_name} needs attention this week.",
                    ),
                )
            )
        ]
    numbered = list(enumerate(rows, start=1))
    action = [(pos, row) for pos, row in numbered if row.is_open][:button_rows]
    chosen = {pos for pos, _ in action}
    rest = [(pos, row) for pos, row in numbered if pos not in chosen]
    summary = (
        f"{total:,} student{'s' if total != 1 else ''} in {cohort_name}, most urgent first: "
        f"{reason_counts(rows)}."
    )
    if action:
        summary += " Press a button to tell the other leads you are on it."
    if rest:
        summary += (
            f"\nButtons: the {len(action)} most urgent students nobody has contacted or "
            f"excused yet. The other {len(rest):,} are listed after them, one line each: use "
            "`/digest follow-up` for them. The CSV has every row."
        )
    messages: list[MessageSpec] = []
    pages = math.ceil(len(action) / ROWS_PER_ATTENTION_MESSAGE)
    for page in range(pages):
        chunk = action[page * ROWS_PER_ATTENTION_MESSAGE : (page + 1) * ROWS_PER_ATTENTION_MESSAGE]
        fields = [attention_field(pos, row) for pos, row in chunk]
        embeds = pack_fields(
            f"{ATTENTION_LABEL} ({page + 1}/{pages})",
            summary if page == 0 else "",
            fields,
            footer=footer,
        )
        buttons = tuple((pos, row.user_id) for pos, row in chunk)
        for message in group_messages(embeds):
            messages.append(replace(message, buttons=buttons))
            buttons = ()  # a continued page (never with 5 short fields) carries no buttons
    if not action:
        messages.extend(group_messages(pack_fields(ATTENTION_LABEL, summary, [], footer=footer)))
    if rest:
        messages.extend(
            _list_pages(
                [attention_line(pos, row) for pos, row in rest],
                LIST_LABEL,
            )
        )
    return messages


def paginate(
    model: DigestModel,
    *,
    chart_description: str,
    cohort_name: str,
    extra_fields: Sequence[tuple[str, str]] = (),
) -> list[MessageSpec]:
    """The digest ``model`` as messages within Discord's limits (see the module doc).

    The first message carries the headline, highlights and chart (and the attachments);
    the needs-attention pages follow.
    """
    fields = [FieldSpec(line.label, line.value(), inline=True) for line in model.headline]
    fields.append(
        FieldSpec(
            "Pulse (anonymous, whole cohort)",
            "\n".join(model.pulse_lines) if model.pulse_lines is not None else NOT_AVAILABLE,
        )
    )
    # Other features' lines (e.g. alumni mentors), after the cohort's own numbers.
    fields.extend(FieldSpec(name, value) for name, value in extra_fields)
    summary = pack_fields(
        model.title, "This week = the 7 days before this digest, against the 7 days before.", fields
    )
    highlight_embeds = pack_fields(
        "Highlights", "\n".join(f"• {h}" for h in model.highlights) or "Nothing to highlight.", []
    )
    chart = [
        replace(e, image="attachment://participation.png") if i == 0 else e
        for i, e in enumerate(pack_fields("Participation per week", chart_description, []))
    ]
    first = group_messages([*summary, *highlight_embeds, *chart], attach_files=True)
    return [*first, *attention_messages(model.attention, cohort_name)]


def attention_user_ids(messages: Sequence[MessageSpec]) -> list[int]:
    """The student ids with buttons, in order (each once): used to check pagination."""
    return [user_id for m in messages for _, user_id in m.buttons]


@dataclass(frozen=True)
class DigestModel:
    """Everything computed for one digest (before Discord)."""

    title: str
    this_week: WeekTotals
    last_week: WeekTotals
    headline: list[HeadlineLine]
    attention: list[AttentionRow]
    rows: list[StudentRow]
    highlights: list[str] = field(default_factory=list)
    pulse_lines: list[str] | None = None
