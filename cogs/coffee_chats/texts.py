"""Plain words for a match: the matcher's reason codes → a sentence (pure: no Discord, no I/O).

A reason is worded only when EVERY member of the group lets their matches see the profile
item it is about (``shown`` per member: the profile attributes visible to a match). A reason
says something about each member ("you both work full-time"), so one member keeping an item
private is enough to leave it out. Instructors get the same treatment with the items visible
to staff (what classmates may see).

Reason codes (see :func:`cogs.coffee_chats.matcher.explain`) use the matcher's vocabulary; the bot
maps
profile values into it (cogs/coffee_chats/common.py, :func:`to_match_profile`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

__all__ = [
    "NOTHING_SHARED",
    "REASON_ATTRIBUTE",
    "explain_match",
    "reason_attribute",
    "shareable_reasons",
    "staff_reason_labels",
]

#: Matcher key (reason code stem) → the profile attribute it reveals.
REASON_ATTRIBUTE: Final[Mapping[str, str]] = {
    "work": "work",
    "caregiving": "caregiving",
    "first_gen": "first_in_family",
    "prior_courses": "prior_courses",
    "goal": "wants",
    "timezone": "timezone",
    "overlap_hours": "availability",
}

_SAME: Final[Mapping[str, Mapping[str, str]]] = {
    "work": {
        "full_time": "work full-time",
        "part_time": "work part-time",
        "not_working": "aren't working right now",
        "student": "are studying full-time",
    },
    "caregiving": {
        "young_children": "have young children at home",
        "school_children": "have school-age kids",
        "adult_care": "look after an adult family member",
    },
    "prior_courses": {
        "none": "are taking your first online course",
        "some": "have taken a few online courses before",
        "many": "are seasoned online learners",
    },
    "goal": {
        "study_buddy": "are looking for a study buddy",
        "accountability": "want someone to keep you accountable",
        "social": "want to be social",
        "career_change": "are changing careers",
        "upskill": "are upskilling",
        "degree": "are working towards a degree",
        "personal": "are learning for yourselves",
    },
}

_DIFFERENT: Final[Mapping[str, str]] = {
    "work": "have different work situations (as one of you asked)",
    "caregiving": "have different caregiving situations (as one of you asked)",
    "prior_courses": "bring different amounts of online course experience",
    "goal": "want different things from the course",
}

_TIMEZONE: Final[Mapping[str, str]] = {
    "same_timezone": "are in the same time zone",
    "near_timezone": "live within a couple of hours of each other",
    "different_timezone": "live in quite different time zones (as one of you asked)",
}

NOTHING_SHARED: Final = (
    "You were matched on things you keep private, plus a little chance — say hi and find out "
    "what you have in common!"
)


def reason_attribute(code: str) -> str | None:
    """The profile attribute a reason code is about (None for an unknown code)."""
    stem = code.split(":", 1)[0]
    if stem in {"same_timezone", "near_timezone", "different_timezone"}:
        return "timezone"
    if stem == "overlap_hours":
        return "availability"
    if stem == "both_first_gen":
        return "first_in_family"
    for prefix in ("same_", "both_", "different_"):
        if stem.startswith(prefix):
            return REASON_ATTRIBUTE.get(stem[len(prefix) :])
    return None


def shareable_reasons(codes: Iterable[str], shown: Sequence[frozenset[str]]) -> list[str]:
    """The codes whose attribute every member shows (``shown``: one set per member)."""
    kept: list[str] = []
    for code in codes:
        attribute = reason_attribute(code)
        if attribute is not None and shown and all(attribute in s for s in shown):
            kept.append(code)
    return kept


def _phrase(code: str) -> str | None:
    stem, _, value = code.partition(":")
    if stem in _TIMEZONE:
        return _TIMEZONE[stem]
    if stem == "both_first_gen":
        return "are the first in your families to go to college"
    if stem == "overlap_hours":
        return None  # worded separately
    for prefix in ("same_", "both_"):
        if stem.startswith(prefix):
            key = stem[len(prefix) :]
            return _SAME.get(key, {}).get(value)
    if stem.startswith("different_"):
        return _DIFFERENT.get(stem[len("different_") :])
    return None


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def explain_match(codes: Iterable[str], shown: Sequence[frozenset[str]]) -> str:
    """One or two plain sentences for the group's thread, from shareable reasons only."""
    kept = shareable_reasons(codes, shown)
    phrases = [p for p in (_phrase(c) for c in kept) if p]
    overlap = next((int(c.split(":", 1)[1]) for c in kept if c.startswith("overlap_hours:")), None)
    subject = "You both" if len(shown) <= 2 else "All of you"
    sentence = f"{subject} {_join(phrases)}" if phrases else ""
    if overlap:
        when = (
            f"your free time overlaps about {overlap} hours a week"
            if sentence
            else f"Your free time overlaps about {overlap} hours a week"
        )
        sentence = f"{sentence}; {when}" if sentence else when
    return f"{sentence}." if sentence else NOTHING_SHARED


def staff_reason_labels(codes: Iterable[str], shown: Sequence[frozenset[str]]) -> list[str]:
    """Short labels for the instructor's preview (items visible to staff only), plus a
    count-free note when other reasons are private."""
    codes = list(codes)
    kept = shareable_reasons(codes, shown)
    labels: list[str] = []
    for code in kept:
        if code.startswith("overlap_hours:"):
            labels.append(f"{code.split(':', 1)[1]} h/week overlap")
        else:
            phrase = _phrase(code)
            if phrase:
                labels.append(phrase)
    if len(kept) < len(codes):
        labels.append("other reasons private")
    return labels
