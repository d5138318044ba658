"""Pure rules of the coffee shop: kudos limits, milestones, the weekly pulse, circles, questions.

No discord import, no I/O, no clock reads: the current instant is always a parameter. The
message builders return :class:`Post` values (plain text + embed parts) so the same post can
be sent directly today and through the outbox later.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from bot.text import EMBED_LIMITS, clean_user_text, discord_time, shorten

__all__ = [
    "CELEBRATION_REACTIONS",
    "CIRCLE_NAME_LIMIT",
    "DEFAULT_CIRCLE_SIZE",
    "DEFAULT_KUDOS_PER_DAY",
    "KUDOS_REASON_LIMIT",
    "MILESTONES",
    "PULSE_CHOICES",
    "PULSE_MIN_RESPONDENTS",
    "REACH_OUT",
    "SHARE_TEXT_LIMIT",
    "Post",
    "PostKind",
    "PulseSummary",
    "choose_thread",
    "circle_thread_name",
    "clean_circle_name",
    "kudos_next_allowed",
    "milestone_roundup_lines",
    "next_question_index",
    "parse_message_link",
    "pulse_week",
    "summarize_pulse",
]

PostKind = Literal["course_win", "personal_win", "life_update", "rough_week"]
POST_KINDS: Final[tuple[PostKind, ...]] = (
    "course_win",
    "personal_win",
    "life_update",
    "rough_week",
)
CELEBRATION_KINDS: Final[frozenset[str]] = frozenset({"course_win", "personal_win"})
POST_KIND_LABELS: Final[Mapping[str, str]] = {
    "course_win": "course win",
    "personal_win": "personal win",
    "life_update": "life update",
    "rough_week": "rough week",
}

#: Added by the bot under a celebration only (never under a life update or a rough week).
CELEBRATION_REACTIONS: Final[tuple[str, ...]] = ("🎉", "👏", "🙌")

SHARE_TEXT_LIMIT: Final = 1500
KUDOS_REASON_LIMIT: Final = 300
CIRCLE_NAME_LIMIT: Final = 50
DEFAULT_KUDOS_PER_DAY: Final = 3
DEFAULT_CIRCLE_SIZE: Final = 25
MAX_CIRCLE_SIZE: Final = 1000  # Discord's thread member limit

# ---------------------------------------------------------------------- posts


@dataclass(frozen=True)
class Post:
    """A message to send, free of Discord types.

    ``ping_user_ids`` are the only people the message may notify (everyone else, including
    anyone mentioned inside user text, is not pinged). ``reactions`` are added after sending.
    ``fields`` are (name, value) pairs.
    """

    content: str | None = None
    title: str | None = None
    description: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    footer: str | None = None
    reactions: tuple[str, ...] = ()
    ping_user_ids: tuple[int, ...] = ()
    colour: int | None = None

    @property
    def has_embed(self) -> bool:
        return bool(self.title or self.description or self.fields)

    def plain_text(self) -> str:
        """What a screen reader reads: every part, in order."""
        parts = [self.content or "", self.title or "", self.description or ""]
        parts += [f"{name}: {value}" for name, value in self.fields]
        parts.append(self.footer or "")
        return "\n".join(p for p in parts if p)


def share_post(
    *,
    kind: PostKind,
    text: str,
    author_name: str | None,
    author_mention: str | None,
    support_links: str | None,
) -> Post:
    """A celebration, life update or rough-week post. ``author_name`` None = posted without a
    name. Celebrations get reactions; the others never do."""
    label = POST_KIND_LABELS[kind]
    description = shorten(text, EMBED_LIMITS.description)
    if kind in CELEBRATION_KINDS:
        who = author_name or "a classmate"
        title = f"Celebrating a {label} from {who}"
        content = (
            f"🎉 {author_mention} is celebrating a {label}! Congratulate them below."
            if author_mention
            else f"🎉 A classmate is celebrating a {label}!"
        )
        return Post(
            content=content,
            title=shorten(title, EMBED_LIMITS.title),
            description=description,
            reactions=CELEBRATION_REACTIONS,
            colour=0xF1C40F,
        )
    if kind == "rough_week":
        title = f"A rough week — shared by {author_name or 'a classmate (posted without a name)'}"
        content = (
            f"{author_mention} shared that this week is a rough one."
            if author_mention
            else "A classmate shared that this week is a rough one (posted without a name)."
        )
    else:
        title = f"A life update from {author_name or 'a classmate (posted without a name)'}"
        content = (
            f"{author_mention} shared a life update."
            if author_mention
            else "A classmate shared a life update (posted without a name)."
        )
    fields: tuple[tuple[str, str], ...] = ()
    if kind == "rough_week" and support_links:
        fields = (("If you need support", shorten(support_links, EMBED_LIMITS.field_value)),)
    return Post(
        content=content,
        title=shorten(title, EMBED_LIMITS.title),
        description=description,
        fields=fields,
        footer="Reply with a kind word if you like.",
        colour=0x5DADE2,
    )


def kudos_post(*, giver_name: str, receiver_id: int, receiver_name: str, reason: str) -> Post:
    """Public thanks; pings exactly the recipient."""
    return Post(
        content=f"🙏 Kudos to <@{receiver_id}> from {giver_name}!",
        title=shorten(f"Kudos from {giver_name} to {receiver_name}", 256),
        description=reason,
        ping_user_ids=(receiver_id,),
        colour=0x2ECC71,
    )


def kudos_post_without_giver(receiver_id: int | None) -> Post:
    """A kudos post once its giver erased their data: the receiver keeps the thanks, without
    the giver's name or words (an erased receiver's kudos is deleted, not edited)."""
    to = f"<@{receiver_id}>" if receiver_id is not None else "a classmate"
    return Post(
        content=f"🙏 Kudos to {to} from a classmate!",
        title="Kudos from a classmate",
        colour=0x2ECC71,
    )


# ---------------------------------------------------------------------- kudos


def kudos_next_allowed(sent_at: Iterable[datetime], now: datetime, per_day: int) -> datetime | None:
    """None when one more kudos may be sent now; otherwise the instant it becomes possible.

    The limit is a rolling 24 hours: at most ``per_day`` kudos in any 24-hour window.
    """
    if per_day < 1:
        raise ValueError("per_day must be at least 1")
    window_start = now - timedelta(days=1)
    recent = sorted(t for t in sent_at if window_start < t <= now)
    if len(recent) < per_day:
        return None
    # The oldest kudos that still counts must leave the window first.
    return recent[len(recent) - per_day] + timedelta(days=1)


# ---------------------------------------------------------------------- milestones

#: Milestones other features report, with the words students and the roundup see.
MILESTONES: Final[Mapping[str, str]] = {
    "intro_posted": "posted their introduction",
    "first_answer": "answered their first discussion prompt",
    "first_peer_reply": "replied to a classmate for the first time",
    "first_chat_met": "met a classmate for their first coffee chat",
    "course_completed": "completed the course",
}

MILESTONE_NOTES: Final[Mapping[str, str]] = {
    "intro_posted": "you posted your introduction",
    "first_answer": "you answered your first discussion prompt",
    "first_peer_reply": "you replied to a classmate for the first time",
    "first_chat_met": "you met a classmate for your first coffee chat",
    "course_completed": "you completed the course",
}


def check_milestone(name: str) -> str:
    if name not in MILESTONES:
        raise ValueError(f"unknown milestone {name!r}; expected one of {sorted(MILESTONES)}")
    return name


def milestone_roundup_lines(counts: Mapping[str, int]) -> list[str]:
    """Lines for the weekly roundup: counts only, never names. Empty when nothing happened."""
    lines = []
    for key, words in MILESTONES.items():
        n = counts.get(key, 0)
        if n > 0:
            lines.append(f"• {n} {'classmate' if n == 1 else 'classmates'} {words}")
    return lines


def roundup_post(counts: Mapping[str, int]) -> Post | None:
    lines = milestone_roundup_lines(counts)
    if not lines:
        return None
    total = sum(counts.get(k, 0) for k in MILESTONES)
    return Post(
        content="🌟 This week's milestones",
        title=f"{total} {'milestone' if total == 1 else 'milestones'} reached this week",
        description="\n".join(lines),
        footer="Turn on private milestone notes with /coffee settings.",
        colour=0x9B59B6,
    )


# ---------------------------------------------------------------------- pulse

PULSE_CHOICES: Final[tuple[tuple[str, str], ...]] = (
    ("great", "Going well"),
    ("okay", "Okay"),
    ("struggling", "Struggling a bit"),
    ("hard", "Really hard"),
)
PULSE_LABELS: Final[Mapping[str, str]] = dict(PULSE_CHOICES)
REACH_OUT: Final = "reach"
REACH_OUT_LABEL: Final = "Please reach out to me"
PULSE_MIN_RESPONDENTS: Final = 5


@dataclass(frozen=True)
class PulseSummary:
    """Aggregated anonymous answers. ``counts`` is None (hidden) under the minimum."""

    respondents: int | None  # None when hidden: not even the exact number is shown
    counts: Mapping[str, int] | None
    minimum: int = PULSE_MIN_RESPONDENTS

    @property
    def hidden(self) -> bool:
        return self.counts is None

    def lines(self) -> list[str]:
        if self.counts is None:
            return [
                f"Fewer than {self.minimum} students answered: hidden to keep answers anonymous."
            ]
        return [f"{PULSE_LABELS[key]}: {self.counts.get(key, 0)}" for key, _ in PULSE_CHOICES]


def summarize_pulse(
    tallies: Mapping[str, int], minimum: int = PULSE_MIN_RESPONDENTS
) -> PulseSummary:
    """Totals per answer, hidden entirely (counts and exact total) below ``minimum``."""
    counts = {key: max(0, int(tallies.get(key, 0))) for key, _ in PULSE_CHOICES}
    total = sum(counts.values())
    if total < minimum:
        return PulseSummary(respondents=None, counts=None, minimum=minimum)
    return PulseSummary(respondents=total, counts=counts, minimum=minimum)


def pulse_week(now: datetime, tz: ZoneInfo) -> tuple[date, datetime]:
    """The course week containing ``now``: its Monday (local) and when it closes (the next
    Monday 00:00 local, as aware UTC)."""
    local = now.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    closes = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    return monday, closes.astimezone(UTC)


def pulse_post(closes_at: datetime) -> Post:
    return Post(
        content="☕ Weekly check-in: **How is this week going?**",
        title="How is this week going?",
        description=(
            "Pick the answer that fits. Your answer is anonymous: CohortBot stores only the "
            "totals, never who chose what, and staff see totals only when at least "
            f"{PULSE_MIN_RESPONDENTS} classmates answered. Your answer is final for the week.\n\n"
            f"“{REACH_OUT_LABEL}” is different: it is NOT anonymous. It privately tells the "
            "course leads your name so someone can check in with you.\n\n"
            f"Open until {discord_time(closes_at)}."
        ),
        colour=0x1ABC9C,
    )


# ---------------------------------------------------------------------- circles


def clean_circle_name(name: str) -> str:
    """Collapse spaces; 1–50 characters that are not only invisible ones."""
    cleaned = clean_user_text(name, field="The circle name", limit=CIRCLE_NAME_LIMIT)
    return " ".join(cleaned.split())


def circle_thread_name(circle_name: str, index: int) -> str:
    """The thread of a circle: ``"Working parents"``, then ``"Working parents 2"`` …"""
    if index < 1:
        raise ValueError("index starts at 1")
    return circle_name if index == 1 else f"{circle_name} {index}"


def choose_thread(threads: Sequence[tuple[int, int]], cap: int) -> int | None:
    """The thread a new member joins: the first (in order) with room under ``cap``;
    None when every thread is full (open a new one). ``threads``: (thread_id, members)."""
    if cap < 1:
        raise ValueError("cap must be at least 1")
    for thread_id, members in threads:
        if members < cap:
            return thread_id
    return None


# ---------------------------------------------------------------------- questions


def next_question_index(count: int, asked: Sequence[int], seed: int) -> int:
    """The next question of a bank of ``count``: a fixed per-server shuffled order, skipping
    the ones already asked; once all were asked, the least recently asked comes back.

    ``asked`` lists indices in the order they were asked (oldest first).
    """
    if count < 1:
        raise ValueError("the question bank is empty")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    seen = {i for i in asked if 0 <= i < count}
    for index in order:
        if index not in seen:
            return index
    last_asked: dict[int, int] = {}
    for position, index in enumerate(asked):
        last_asked[index] = position
    return min(order, key=lambda i: last_asked.get(i, -1))


def question_post(question: str, welcome_line: str | None) -> Post:
    description = question if not welcome_line else f"{question}\n\n{welcome_line}"
    return Post(
        content="☕ Coffee-shop question of the week",
        title="Coffee-shop question",
        description=description,
        footer="Not coursework — just for fun. Reply here!",
        colour=0xA0522D,
    )


# ---------------------------------------------------------------------- parsing

_LINK = re.compile(
    r"^\s*<?https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/"
    r"([0-9]{1,20})/([0-9]{1,20})/([0-9]{1,20})>?\s*$"
)
#: Discord ids are 64-bit; a bigger number is no message (and would overflow SQLite's integers).
MAX_SNOWFLAKE = 2**63 - 1


def parse_message_link(link: str) -> tuple[int, int, int] | None:
    """(guild_id, channel_id, message_id) of a "Copy Message Link" URL, or None."""
    match = _LINK.match(link or "")
    if match is None:
        return None
    guild_id, channel_id, message_id = (int(match.group(i)) for i in (1, 2, 3))
    if max(guild_id, channel_id, message_id) > MAX_SNOWFLAKE:
        return None
    return guild_id, channel_id, message_id


@dataclass(frozen=True)
class WeekStats:
    """The coffee shop's numbers for one week (what the digest shows)."""

    posts: Mapping[str, int] = field(default_factory=dict)
    celebration_reactions: int = 0
    celebration_replies: int = 0
    kudos_given: Mapping[int, int] = field(default_factory=dict)
    kudos_received: Mapping[int, int] = field(default_factory=dict)
    milestones: Mapping[str, int] = field(default_factory=dict)
    pulse: PulseSummary = field(default_factory=lambda: summarize_pulse({}))
    reach_out_user_ids: tuple[int, ...] = ()

    @property
    def celebrations(self) -> int:
        return sum(self.posts.get(k, 0) for k in CELEBRATION_KINDS)

    @property
    def rough_weeks(self) -> int:
        return self.posts.get("rough_week", 0)

    @property
    def milestone_total(self) -> int:
        return sum(self.milestones.values())


def embed_dict(post: Post) -> dict[str, object] | None:
    """The post's embed as Discord's JSON (what the outbox stores), None without one."""
    if not post.has_embed:
        return None
    embed: dict[str, object] = {"type": "rich"}
    if post.title:
        embed["title"] = post.title
    if post.description:
        embed["description"] = post.description
    if post.colour is not None:
        embed["color"] = post.colour
    if post.fields:
        embed["fields"] = [{"name": n, "value": v, "inline": False} for n, v in post.fields]
    if post.footer:
        embed["footer"] = {"text": post.footer}
    return embed
