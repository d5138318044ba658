"""Alumni mentors' rules: the fixed choices, validating an offer, who may be suggested, and
ranking. Pure: no discord import, no I/O; ``now`` is passed in.

The fit of a student and a mentor is the coffee-chat matcher's pair score, computed by the
service (``cogs.coffee_chats.mentor_fit``) on ONLY the profile items the mentor chose to show
mentees; this module takes those scores as numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

__all__ = [
    "CAPACITY_RANGE",
    "EXPIRY",
    "HELP_AREAS",
    "NOTE_LIMIT",
    "SUGGESTIONS",
    "Candidate",
    "OfferError",
    "clean_offer",
    "eligible",
    "rank",
    "week_start",
]

#: What a mentor can help with (code → label), in display order.
HELP_AREAS: Final[Mapping[str, str]] = {
    "what_to_expect": "what to expect",
    "assignments": "assignments",
    "work_family": "balancing work and family",
    "study_habits": "study habits",
}
NOTE_LIMIT: Final = 200
CAPACITY_RANGE: Final = (1, 3)
SUGGESTIONS: Final = 3
#: An unanswered request expires after this.
EXPIRY: Final = timedelta(days=7)
#: The weekly cap counts requests in this rolling window.
CAP_WINDOW: Final = timedelta(days=7)


class OfferError(ValueError):
    """An offer that can't be saved as given (the message says why, for the person)."""


@dataclass(frozen=True)
class CleanOffer:
    help_areas: tuple[str, ...]
    note: str
    capacity: int
    shown_items: tuple[str, ...]


def clean_offer(
    help_areas: Iterable[str],
    note: str,
    capacity: str | int,
    shown_items: Iterable[str],
    settable_items: Iterable[str],
) -> CleanOffer:
    """Check a submitted form; raise :class:`OfferError` with a plain message."""
    areas = tuple(a for a in HELP_AREAS if a in set(help_areas))
    unknown = set(help_areas) - set(HELP_AREAS)
    text = " ".join(note.split())
    if unknown:
        raise OfferError("Pick what you can help with from the list.")
    if not areas and not text:
        raise OfferError("Pick at least one thing you can help with, or describe it in the note.")
    if len(text) > NOTE_LIMIT:
        raise OfferError(f"The note is {len(text)} characters; keep it to {NOTE_LIMIT}.")
    try:
        count = int(capacity)
    except (TypeError, ValueError):
        raise OfferError("Choose how many mentees at once: 1, 2 or 3.") from None
    low, high = CAPACITY_RANGE
    if not low <= count <= high:
        raise OfferError("Choose how many mentees at once: 1, 2 or 3.")
    allowed = set(settable_items)
    items = tuple(dict.fromkeys(i for i in shown_items if i in allowed))
    if len(items) != len(set(shown_items)):
        raise OfferError("Only items you have set in /profile can be shown to mentees.")
    return CleanOffer(areas, text, count, items)


@dataclass(frozen=True)
class Candidate:
    """A mentor as the suggestion sees them."""

    user_id: int
    capacity: int
    open_count: int  # pending requests + active pairs
    asks_this_week: int
    paused: bool = False


def eligible(
    candidates: Iterable[Candidate],
    *,
    student_id: int,
    weekly_cap: int,
    exclude: Iterable[int] = (),
    forbidden: Iterable[frozenset[int]] = (),
) -> list[Candidate]:
    """Mentors who may be suggested to this student: active, free capacity, under the weekly
    cap, never the student themselves, not asked before, no avoid/block between them."""
    skip = set(exclude)
    blocked = {next(iter(p - {student_id})) for p in forbidden if student_id in p and len(p) == 2}
    return [
        c
        for c in candidates
        if c.user_id != student_id
        and not c.paused
        and c.user_id not in skip
        and c.user_id not in blocked
        and c.open_count < c.capacity
        and c.asks_this_week < weekly_cap
    ]


def rank(
    candidates: Sequence[Candidate], scores: Mapping[int, float], limit: int = SUGGESTIONS
) -> list[Candidate]:
    """Best fit first; ties: more free places, then the lower id (stable, no randomness)."""
    ordered = sorted(
        candidates,
        key=lambda c: (-round(scores.get(c.user_id, 0.0), 6), c.open_count - c.capacity, c.user_id),
    )
    return ordered[:limit]


def week_start(now: datetime) -> datetime:
    """Start of the rolling window the weekly cap counts."""
    return now - CAP_WINDOW
