"""Match explanations: only what every member shows their matches is ever worded."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cogs.coffee_chats.matcher import MatchProfile, explain
from cogs.coffee_chats.texts import (
    NOTHING_SHARED,
    explain_match,
    reason_attribute,
    shareable_reasons,
    staff_reason_labels,
)

ATTRIBUTES = (
    "timezone",
    "availability",
    "work",
    "caregiving",
    "first_in_family",
    "prior_courses",
    "wants",
)

#: Every reason code the matcher can produce, per profile attribute it reveals.
CODES: dict[str, list[str]] = {
    "work": [f"same_work:{v}" for v in ("full_time", "part_time", "not_working")]
    + ["different_work"],
    "caregiving": [
        f"both_caregiving:{v}" for v in ("young_children", "school_children", "adult_care")
    ]
    + ["different_caregiving"],
    "first_in_family": ["both_first_gen"],
    "prior_courses": [f"same_prior_courses:{v}" for v in ("none", "some", "many")]
    + ["different_prior_courses"],
    "wants": [f"same_goal:{v}" for v in ("study_buddy", "accountability", "social")]
    + ["different_goal"],
    "timezone": ["same_timezone", "near_timezone", "different_timezone"],
    "availability": ["overlap_hours:3", "overlap_hours:12"],
}

#: Words that give an attribute away (checked independently of the module's own tables).
TELLTALES: dict[str, tuple[str, ...]] = {
    "work": ("full-time", "part-time", "working", "work situation"),
    "caregiving": ("children", "kids", "family member", "caregiving"),
    "first_in_family": ("first in your families",),
    "prior_courses": ("online course", "online learners"),
    "wants": ("study buddy", "accountable", "social", "want different things"),
    "timezone": ("time zone", "couple of hours"),
    "availability": ("overlaps", "hours a week"),
}

ALL_CODES = [code for codes in CODES.values() for code in codes]


def test_codes_map_to_their_attribute() -> None:
    for attribute, codes in CODES.items():
        for code in codes:
            assert reason_attribute(code) == attribute, code


@given(
    codes=st.lists(st.sampled_from(ALL_CODES), max_size=8, unique=True),
    shown=st.lists(st.sets(st.sampled_from(ATTRIBUTES)), min_size=2, max_size=3),
)
def test_a_private_attribute_never_appears(codes: list[str], shown: list[set[str]]) -> None:
    sets = [frozenset(s) for s in shown]
    text = explain_match(codes, sets)
    hidden = {a for a in ATTRIBUTES if not all(a in s for s in sets)}
    for attribute in hidden:
        for word in TELLTALES[attribute]:
            assert word not in text, (attribute, word, text)
    for label in staff_reason_labels(codes, sets):
        for attribute in hidden:
            assert not any(word in label for word in TELLTALES[attribute]), (attribute, label)


@given(codes=st.lists(st.sampled_from(ALL_CODES), min_size=1, max_size=6, unique=True))
def test_everything_shown_is_explained(codes: list[str]) -> None:
    everyone = [frozenset(ATTRIBUTES)] * 2
    text = explain_match(codes, everyone)
    assert text != NOTHING_SHARED
    for code in codes:
        attribute = reason_attribute(code)
        assert attribute is not None
        assert any(word in text for word in TELLTALES[attribute]), (code, text)


def test_the_issue_example_and_nothing_shared() -> None:
    text = explain_match(
        ["same_work:full_time", "both_caregiving:school_children", "overlap_hours:6"],
        [frozenset(ATTRIBUTES), frozenset(ATTRIBUTES)],
    )
    assert text == (
        "You both work full-time and have school-age kids; your free time overlaps about "
        "6 hours a week."
    )
    assert explain_match(["same_work:full_time"], [frozenset({"work"}), frozenset()]) == (
        NOTHING_SHARED
    )
    assert shareable_reasons(["same_work:full_time"], [frozenset({"work"})] * 3) == [
        "same_work:full_time"
    ]
    trio = explain_match(["same_timezone"], [frozenset({"timezone"})] * 3)
    assert trio.startswith("All of you are in the same time zone")


def test_words_every_code_the_matcher_emits() -> None:
    week = datetime(2026, 9, 7, tzinfo=UTC)
    a = MatchProfile(
        1,
        "America/New_York",
        frozenset({"weekday_evenings"}),
        {
            "work": "full_time",
            "caregiving": "school_children",
            "first_gen": "yes",
            "goal": "social",
        },
    )
    b = MatchProfile(
        2,
        "America/New_York",
        frozenset({"weekday_evenings"}),
        {
            "work": "full_time",
            "caregiving": "school_children",
            "first_gen": "yes",
            "goal": "social",
        },
    )
    codes = explain([a, b], week)
    text = explain_match(codes, [frozenset(ATTRIBUTES)] * 2)
    for phrase in (
        "work full-time",
        "school-age kids",
        "first in your families",
        "social",
        "same time zone",
        "overlaps",
    ):
        assert phrase in text, text
