"""The pure profile rules (property-tested) and the profile repository."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import build_features, close_app, open_app
from bot.clock import FakeClock
from bot.errors import UserFacingError
from cogs.profiles import ProfileService
from cogs.profiles.rules import (
    ATTRIBUTES,
    CHOICES,
    CIRCUMSTANCES,
    PREFER_NOT_TO_SAY,
    VISIBILITIES,
    Attribute,
    Profile,
    ProfileEntry,
    Relation,
    Visibility,
    findable_for,
    in_common,
    is_valid_value,
    most_in_common,
    visible_to,
)
from tests.support.postgres import store_settings

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
RELATIONS: tuple[Relation, ...] = ("self", "match", "classmate", "staff")


@st.composite
def profiles(draw: st.DrawFn, user_id: int | None = None) -> Profile:
    entries: dict[Attribute, ProfileEntry] = {}
    for attribute in ATTRIBUTES:
        if not draw(st.booleans()):
            continue
        options = [*CHOICES[attribute], PREFER_NOT_TO_SAY]
        if attribute == "timezone":
            options = ["Europe/Berlin", "America/New_York", PREFER_NOT_TO_SAY]
        entries[attribute] = ProfileEntry(
            draw(st.sampled_from(options)), draw(st.sampled_from(VISIBILITIES))
        )
    uid = user_id if user_id is not None else draw(st.integers(min_value=1, max_value=10**6))
    return Profile(1, uid, entries)


def test_every_attribute_offers_prefer_not_to_say_and_fits_discord() -> None:
    for attribute in ATTRIBUTES:
        assert is_valid_value(attribute, PREFER_NOT_TO_SAY)
        assert len(CHOICES[attribute]) + 1 <= 25
        assert all(len(label) <= 100 for label in CHOICES[attribute].values())
    assert len(CIRCUMSTANCES) <= 25
    assert not is_valid_value("work", "CEO")
    assert not is_valid_value("timezone", "EST", valid_timezone=False)


@given(st.sampled_from(VISIBILITIES), st.sampled_from(RELATIONS))
def test_the_student_always_sees_and_private_means_only_them(
    visibility: Visibility, relation: Relation
) -> None:
    assert visible_to(visibility, "self")
    if visibility == "private":
        assert visible_to(visibility, relation) == (relation == "self")
    # Wider visibility never hides from someone a narrower one showed to.
    order = list(VISIBILITIES)
    for wider in order[order.index(visibility) :]:
        if visible_to(visibility, relation):
            assert visible_to(wider, relation)


@given(profiles(user_id=1), profiles(user_id=2))
def test_common_ground_uses_only_what_the_other_made_findable(
    caller: Profile, other: Profile
) -> None:
    for attribute in in_common(caller, other):
        assert other.visibility(attribute) == "classmates"
        assert other.matchable(attribute) == caller.matchable(attribute) is not None
    for relation in ("classmate", "staff", "match"):
        shown = other.shown_to(cast(Relation, relation))
        assert all(other.visibility(a) != "private" for a in shown)


@given(profiles(user_id=1), st.lists(profiles(), max_size=15))
def test_most_in_common_is_sorted_limited_and_never_lists_the_caller(
    caller: Profile, others: list[Profile]
) -> None:
    found = most_in_common(caller, others, limit=10)
    assert len(found) <= 10
    assert all(c.user_id != caller.user_id and c.shared for c in found)
    scores = [len(c.shared) for c in found]
    assert scores == sorted(scores, reverse=True)


@given(profiles(user_id=1), profiles(user_id=2))
def test_a_circumstance_finds_only_findable_values(caller: Profile, other: Profile) -> None:
    for circumstance in CIRCUMSTANCES:
        if findable_for(circumstance, caller, other):
            assert other.visibility(circumstance.attribute) == "classmates"
            assert other.matchable(circumstance.attribute) is not None


async def test_profile_repository_round_trip_is_per_guild_and_erasable(
    store_target: str, tmp_path: Path
) -> None:
    app = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(NOW))
    build_features(app)
    try:
        await app.services.get(ProfileService).set(
            1, 42, {"work": "full_time"}, visibility="classmates"
        )
        await app.services.get(ProfileService).set(1, 42, {"caregiving": "none"})
        await app.services.get(ProfileService).set(2, 42, {"work": "part_time"})
        await app.services.get(ProfileService).set_preference(1, 42, "work", "similar")
        profile = await app.services.get(ProfileService).get(1, 42)
        assert profile is not None
        assert profile.value("work") == "full_time" and profile.visibility("work") == "classmates"
        assert profile.visibility("caregiving") == "private"
        assert profile.preference("work") == "similar" and profile.preference("caregiving") == (
            "dont_mind"
        )
        both = await app.services.get(ProfileService).for_users(1, [42, 43])
        assert set(both) == {42}
        with pytest.raises(UserFacingError):
            await app.services.get(ProfileService).set(1, 42, {"work": "astronaut"})
        exported = await app.services.get(ProfileService).repository.export_user(1, 42)
        assert len(exported["profile_attributes"]) == 2
        await app.services.get(ProfileService).repository.delete_user(1, 42)
        assert await app.services.get(ProfileService).get(1, 42) is None
        other_guild = await app.services.get(ProfileService).get(2, 42)
        assert other_guild is not None and other_guild.value("work") == "part_time"
    finally:
        await close_app(app)
