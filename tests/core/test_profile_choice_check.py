"""/profile's fixed choices are checked in one place (cogs/profiles/cog.py ``_picked``): a
client can send any text for a choice option, so a value not offered is refused."""

from __future__ import annotations

import pytest

from bot.errors import UserFacingError
from cogs.profiles.cog import _picked
from cogs.profiles.rules import ATTRIBUTE_LABELS, VISIBILITY_LABELS


def test_an_offered_choice_is_taken_and_an_empty_option_is_none() -> None:
    assert _picked("matches", VISIBILITY_LABELS, "refused") == "matches"
    assert _picked("work", ATTRIBUTE_LABELS, "refused") == "work"
    assert _picked(None, VISIBILITY_LABELS, "refused") is None


def test_a_choice_that_was_not_offered_is_refused_with_the_given_text() -> None:
    with pytest.raises(UserFacingError, match="Please pick one of the visibility choices"):
        _picked("everyone", VISIBILITY_LABELS, "Please pick one of the visibility choices.")
