"""Life-circumstance profiles: the fixed choices, who may see what, and "in common" scoring.

Pure: no discord import, no I/O. Used by the profile service, /profile, /classmates, the
newcomer suggestions and coffee-chat matching.

Rules:

* Every attribute has a fixed set of choices plus ``prefer_not_to_say`` (the time zone is an
  IANA name from the allowlist in bot/schedule_math.py).
* Every set value except ``prefer_not_to_say`` is usable for matching; visibility decides only
  what is SHOWN: ``private`` (nobody but the student — used only for matching, the default),
  ``matches`` (also the people they are matched with), ``classmates`` (also findable by
  classmates in /classmates and the newcomer suggestions).
* Staff see what classmates see: a private circumstance is private from staff too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

Attribute = Literal[
    "timezone",
    "availability",
    "work",
    "caregiving",
    "first_in_family",
    "prior_courses",
    "wants",
]
Visibility = Literal["private", "matches", "classmates"]
Relation = Literal["self", "match", "classmate", "staff"]
Preference = Literal["similar", "different", "dont_mind"]

PREFER_NOT_TO_SAY: Final = "prefer_not_to_say"
DEFAULT_VISIBILITY: Final[Visibility] = "private"
VISIBILITIES: Final[tuple[Visibility, ...]] = get_args(Visibility)
PREFERENCES: Final[tuple[Preference, ...]] = get_args(Preference)

#: In display order (the order of ``Attribute``).
ATTRIBUTES: Final[tuple[Attribute, ...]] = get_args(Attribute)

ATTRIBUTE_LABELS: Final[dict[Attribute, str]] = {
    "timezone": "Time zone",
    "availability": "Usual availability",
    "work": "Work",
    "caregiving": "Caregiving",
    "first_in_family": "First in family at college",
    "prior_courses": "Prior online courses",
    "wants": "From classmates I want",
}

#: Fixed choices (code → label) per attribute; the time zone is checked against the allowlist.
CHOICES: Final[dict[Attribute, dict[str, str]]] = {
    "timezone": {},
    "availability": {
        "weekday_mornings": "weekday mornings",
        "weekday_daytime": "weekday daytime",
        "weekday_evenings": "weekday evenings",
        "weekends": "weekends",
        "varies": "it varies week to week",
    },
    "work": {
        "full_time": "working full-time",
        "part_time": "working part-time",
        "not_working": "not working right now",
    },
    "caregiving": {
        "young_children": "caring for young children",
        "school_age_children": "caring for school-age children",
        "adult_family": "caring for an adult family member",
        "none": "no caregiving",
    },
    "first_in_family": {
        "yes": "first in my family at college",
        "no": "not the first in my family at college",
    },
    "prior_courses": {
        "first": "first online course",
        "a_few": "a few online courses before",
        "many": "many online courses before",
    },
    "wants": {
        "study_buddy": "a study buddy",
        "accountability": "accountability",
        "social": "to be social",
    },
}

VISIBILITY_LABELS: Final[dict[Visibility, str]] = {
    "private": "only you (used for matching, never shown)",
    "matches": "you and the classmates you are matched with",
    "classmates": "you, your matches, and classmates (findable in /classmates)",
}

PREFER_NOT_TO_SAY_LABEL: Final = "prefer not to say"

#: The relations that can see a value of each visibility.
_SEEN_BY: Final[dict[Visibility, frozenset[Relation]]] = {
    "private": frozenset({"self"}),
    "matches": frozenset({"self", "match"}),
    "classmates": frozenset({"self", "match", "classmate", "staff"}),
}


def is_valid_value(attribute: Attribute, value: str, *, valid_timezone: bool | None = None) -> bool:
    """A fixed choice of this attribute, or ``prefer_not_to_say``.

    For the time zone pass ``valid_timezone`` (the allowlist lives in bot/schedule_math.py).
    """
    if value == PREFER_NOT_TO_SAY:
        return True
    if attribute == "timezone":
        return bool(valid_timezone)
    return value in CHOICES[attribute]


def value_label(attribute: Attribute, value: str) -> str:
    if value == PREFER_NOT_TO_SAY:
        return PREFER_NOT_TO_SAY_LABEL
    if attribute == "timezone":
        return value.replace("_", " ")
    return CHOICES[attribute].get(value, value)


def visible_to(visibility: Visibility, relation: Relation) -> bool:
    """May someone in ``relation`` to the student see a value with this visibility?"""
    return relation in _SEEN_BY[visibility]


@dataclass(frozen=True)
class ProfileEntry:
    value: str
    visibility: Visibility = DEFAULT_VISIBILITY


@dataclass(frozen=True)
class Profile:
    """One student's profile in one guild (frozen; build a new one to change it).

    For matching: ``matchable(attr)`` is the value to use (None when unset or
    "prefer not to say"), whatever the visibility; ``visibility(attr)`` says whether it may be
    shown to a match (``visible_to(profile.visibility(attr), "match")``).
    """

    guild_id: int
    user_id: int
    entries: Mapping[Attribute, ProfileEntry] = field(default_factory=dict)
    preferences: Mapping[Attribute, Preference] = field(default_factory=dict)

    def value(self, attribute: Attribute) -> str | None:
        """The stored code (including ``prefer_not_to_say``), or None when unset."""
        entry = self.entries.get(attribute)
        return entry.value if entry else None

    def matchable(self, attribute: Attribute) -> str | None:
        """The value usable for matching: None when unset or "prefer not to say"."""
        value = self.value(attribute)
        return None if value in (None, PREFER_NOT_TO_SAY) else value

    def visibility(self, attribute: Attribute) -> Visibility:
        entry = self.entries.get(attribute)
        return entry.visibility if entry else DEFAULT_VISIBILITY

    def preference(self, attribute: Attribute) -> Preference:
        """The matching preference (similar/different/don't mind); "dont_mind" when not given."""
        return self.preferences.get(attribute, "dont_mind")

    def shown_to(self, relation: Relation) -> dict[Attribute, str]:
        """What someone in ``relation`` may see: attribute → value code (never unset ones)."""
        return {
            attr: entry.value
            for attr, entry in self.entries.items()
            if visible_to(entry.visibility, relation)
        }

    def findable(self, attribute: Attribute) -> str | None:
        """The value classmates may find this student by (None when not findable)."""
        value = self.matchable(attribute)
        if value is None or not visible_to(self.visibility(attribute), "classmate"):
            return None
        return value

    @property
    def is_empty(self) -> bool:
        return not self.entries


# ---------------------------------------------------------------------- circumstances


@dataclass(frozen=True)
class Circumstance:
    """Something classmates can find each other by in /classmates."""

    key: str
    label: str
    attribute: Attribute
    value: str | None  # None: "the same as mine" (time zone)


def _build_circumstances() -> tuple[Circumstance, ...]:
    found: list[Circumstance] = [Circumstance("same_timezone", "in my time zone", "timezone", None)]
    for attribute in ATTRIBUTES:
        for code, label in CHOICES[attribute].items():
            # Absences are not something to find each other by.
            if (attribute, code) in {("caregiving", "none"), ("first_in_family", "no")}:
                continue
            found.append(Circumstance(f"{attribute}:{code}", label, attribute, code))
    return tuple(found)


CIRCUMSTANCES: Final[tuple[Circumstance, ...]] = _build_circumstances()
CIRCUMSTANCE_BY_KEY: Final[dict[str, Circumstance]] = {c.key: c for c in CIRCUMSTANCES}


def circumstance_value(circumstance: Circumstance, caller: Profile | None) -> str | None:
    """The value a classmate must have to match ``circumstance`` (None: cannot be used)."""
    if circumstance.value is not None:
        return circumstance.value
    return caller.matchable(circumstance.attribute) if caller else None


def findable_for(circumstance: Circumstance, caller: Profile | None, other: Profile) -> bool:
    wanted = circumstance_value(circumstance, caller)
    return wanted is not None and other.findable(circumstance.attribute) == wanted


def in_common(caller: Profile, other: Profile) -> list[Attribute]:
    """Attributes where ``other`` is findable with the same value the caller has.

    Uses only what ``other`` made findable (so ranking never leaks a private value of theirs);
    the caller's own values may be private — the result is shown to the caller alone.
    Absences ("no caregiving", "not first in family") are not counted as common ground.
    """
    shared: list[Attribute] = []
    for attribute in ATTRIBUTES:
        mine = caller.matchable(attribute)
        if mine is None or (attribute, mine) in {("caregiving", "none"), ("first_in_family", "no")}:
            continue
        if other.findable(attribute) == mine:
            shared.append(attribute)
    return shared


@dataclass(frozen=True)
class Classmate:
    user_id: int
    shared: tuple[Attribute, ...]


def most_in_common(
    caller: Profile, others: Iterable[Profile], *, limit: int = 10, minimum: int = 1
) -> list[Classmate]:
    """Classmates with the most findable common ground, best first, ties by user id."""
    scored = [
        Classmate(other.user_id, tuple(in_common(caller, other)))
        for other in others
        if other.user_id != caller.user_id
    ]
    kept = [c for c in scored if len(c.shared) >= minimum]
    kept.sort(key=lambda c: (-len(c.shared), c.user_id))
    return kept[:limit]


def with_circumstance(
    circumstance: Circumstance,
    caller: Profile | None,
    others: Iterable[Profile],
    *,
    caller_id: int,
    limit: int = 10,
) -> list[int]:
    """User ids findable for ``circumstance``, sorted by id, at most ``limit``."""
    found = sorted(
        other.user_id
        for other in others
        if other.user_id != caller_id and findable_for(circumstance, caller, other)
    )
    return found[:limit]


def shared_labels(profile: Profile, shared: Iterable[Attribute]) -> list[str]:
    """Labels of the shared values, for the caller's eyes (uses the other's findable values)."""
    labels = []
    for attribute in shared:
        value = profile.findable(attribute)
        if value is not None:
            labels.append(value_label(attribute, value))
    return labels
