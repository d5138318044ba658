"""What the matcher sees of a profile: each set value in the matcher's vocabulary."""

from __future__ import annotations

from cogs.coffee_chats.common import to_match_profile
from cogs.profiles import Profile
from cogs.profiles.rules import PREFER_NOT_TO_SAY, ProfileEntry


def _profile(**values: str) -> Profile:
    entries = {attr: ProfileEntry(value) for attr, value in values.items()}
    return Profile(guild_id=1, user_id=7, entries=entries)  # type: ignore[arg-type]


def test_every_circumstance_is_translated_to_the_matchers_words() -> None:
    seen = to_match_profile(
        7,
        _profile(
            work="part_time",
            caregiving="adult_family",
            first_in_family="yes",
            prior_courses="a_few",
            wants="social",
            availability="weekday_daytime",
            timezone="Europe/Paris",
        ),
    )
    assert seen.circumstances == {
        "work": "part_time",
        "caregiving": "adult_care",
        "first_gen": "yes",
        "prior_courses": "some",
        "goal": "social",
    }
    assert seen.availability == frozenset({"weekday_afternoons"})
    assert seen.timezone == "Europe/Paris"


def test_unset_unknown_and_prefer_not_to_say_values_are_left_out() -> None:
    seen = to_match_profile(
        7, _profile(work=PREFER_NOT_TO_SAY, caregiving="unknown_code", availability="varies")
    )
    assert seen.circumstances == {}
    assert seen.availability == frozenset()
    assert to_match_profile(7, None).circumstances == {}
