"""How well two people fit, in the coffee-chat matcher's terms, for other features (alumni
mentors): the matcher's pair score and one plain-words reason. No I/O; the matcher (numpy) is
imported on the first call.

Only what the caller passes is used: a feature that must rank on items someone chose to show
passes a profile holding only those items (:func:`restricted`), so nothing private can change
the score or the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from cogs.coffee_chats.common import to_match_profile
from cogs.coffee_chats.texts import explain_match, shareable_reasons
from cogs.profiles import Profile

__all__ = ["Fit", "mentor_fit", "restricted"]


@dataclass(frozen=True)
class Fit:
    score: float
    #: one plain sentence ("You both work full-time."), or None when nothing shown is shared
    reason: str | None


def restricted(profile: Profile | None, items: Iterable[str]) -> Profile | None:
    """The profile with only ``items`` (and no preferences about the others)."""
    if profile is None:
        return None
    keep = set(items)
    entries = {a: e for a, e in profile.entries.items() if a in keep}
    preferences = {a: p for a, p in profile.preferences.items() if a in keep}
    return replace(profile, entries=entries, preferences=preferences)


def mentor_fit(
    viewer_id: int,
    viewer: Profile | None,
    other_id: int,
    other_shown: Profile | None,
    week_start_utc: datetime,
    *,
    default_timezone: str = "UTC",
) -> Fit:
    """The matcher's base pair score (no jitter, no history) of the viewer and someone else,
    and the first reason worded for the viewer. ``other_shown`` must already hold only what
    the other person shows (:func:`restricted`); the viewer's own items are theirs to see."""
    from cogs.coffee_chats.matcher import explain, pair_score

    a = to_match_profile(viewer_id, viewer)
    b = to_match_profile(other_id, other_shown)
    score = pair_score(a, b, week_start_utc, default_timezone=default_timezone)
    codes = explain([a, b], week_start_utc, default_timezone=default_timezone)
    shown = [
        frozenset(viewer.entries) if viewer else frozenset(),
        frozenset(other_shown.entries) if other_shown else frozenset(),
    ]
    kept = shareable_reasons(codes, shown)
    reason = explain_match(kept[:1], shown) if kept else None
    return Fit(score, reason)
