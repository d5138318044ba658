"""Use cases for life-circumstance profiles: set, show, clear, and finding classmates.

Other features read profiles through :class:`ProfileService` (``ProfileService``):

* ``await ProfileService.get(guild_id, user_id) -> Profile | None``
* ``await ProfileService.for_users(guild_id, user_ids) -> dict[int, Profile]``

A :class:`cogs.profiles.rules.Profile` is frozen. For matching use ``profile.matchable(attr)``
(every
set value except "prefer not to say", whatever its visibility) and check
``visible_to(profile.visibility(attr), "match")`` before SHOWING a value to a match.
``profile.preference(attr)`` holds the matching preference: similar/different/don't mind
(``set_preference`` stores it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.clock import Clock
from bot.errors import UserFacingError
from bot.schedule_math import is_valid_timezone
from bot.text import quote_input
from cogs.profiles.repository import ProfileRepository
from cogs.profiles.rules import (
    ATTRIBUTE_LABELS,
    CHOICES,
    CIRCUMSTANCE_BY_KEY,
    PREFER_NOT_TO_SAY,
    Attribute,
    Classmate,
    Preference,
    Profile,
    Visibility,
    circumstance_value,
    is_valid_value,
    most_in_common,
    with_circumstance,
)


@dataclass(frozen=True)
class ClassmatesResult:
    """What /classmates shows: ``classmates`` best first; ``problem`` explains an empty list."""

    classmates: list[Classmate]
    problem: str | None = None


@dataclass(eq=False)
class ProfileService:
    repository: ProfileRepository
    clock: Clock

    async def get(self, guild_id: int, user_id: int) -> Profile | None:
        return await self.repository.get(guild_id, user_id)

    async def for_users(self, guild_id: int, user_ids: Sequence[int]) -> dict[int, Profile]:
        return await self.repository.for_users(guild_id, user_ids)

    async def set(
        self,
        guild_id: int,
        user_id: int,
        values: Mapping[Attribute, str],
        *,
        visibility: Visibility | None = None,
    ) -> Profile:
        """Validate every value first, then save them together: bad input changes nothing.

        ``visibility`` applies to the attributes given; None keeps what each had (private for
        a new one).
        """
        for attribute, value in values.items():
            if attribute not in CHOICES:
                raise UserFacingError(f"There is no profile item called {quote_input(attribute)}.")
            if not is_valid_value(attribute, value, valid_timezone=is_valid_timezone(value)):
                if attribute == "timezone":
                    raise UserFacingError(
                        f"{quote_input(value)} isn't a time zone I can use. Pick a place name "
                        "such as America/New_York from the suggestions (or “prefer not to say”). "
                        "Nothing was changed."
                    )
                raise UserFacingError(
                    f"{quote_input(value)} isn't one of the choices for "
                    f"{ATTRIBUTE_LABELS[attribute].lower()}. Please pick one of the "
                    "suggestions. Nothing was changed."
                )
        now = self.clock.now()
        if values:
            await self.repository.set_values(
                guild_id, user_id, values, visibility=visibility, now=now
            )
        profile = await self.get(guild_id, user_id)
        return profile or Profile(guild_id, user_id)

    async def set_visibility(
        self,
        guild_id: int,
        user_id: int,
        attributes: Sequence[Attribute],
        visibility: Visibility,
    ) -> int:
        return await self.repository.set_visibility(
            guild_id, user_id, attributes, visibility, now=self.clock.now()
        )

    async def clear(self, guild_id: int, user_id: int, attribute: Attribute | None = None) -> int:
        return await self.repository.clear(guild_id, user_id, attribute)

    async def set_preference(
        self, guild_id: int, user_id: int, attribute: Attribute, preference: Preference
    ) -> None:
        await self.repository.set_preference(
            guild_id, user_id, attribute, preference, now=self.clock.now()
        )

    async def classmates(
        self,
        guild_id: int,
        caller_id: int,
        candidate_ids: Sequence[int],
        *,
        circumstance: str | None = None,
        limit: int = 10,
    ) -> ClassmatesResult:
        """Classmates (among ``candidate_ids``, the caller's fellow students) who chose to be
        findable: for ``circumstance``, or with the most in common with the caller."""
        caller = await self.get(guild_id, caller_id)
        others = list((await self.for_users(guild_id, candidate_ids)).values())
        if circumstance is not None:
            found = CIRCUMSTANCE_BY_KEY.get(circumstance)
            if found is None:
                raise UserFacingError("Please pick one of the suggested circumstances.")
            if circumstance_value(found, caller) is None:
                return ClassmatesResult(
                    [],
                    "Set your own time zone first with /profile set timezone:… "
                    "(it can stay private).",
                )
            ids = with_circumstance(found, caller, others, caller_id=caller_id, limit=limit)
            return ClassmatesResult([Classmate(uid, (found.attribute,)) for uid in ids])
        if caller is None or all(caller.matchable(attr) is None for attr in CHOICES):
            return ClassmatesResult(
                [],
                "Tell me a little about your circumstances with /profile set (it stays "
                "private unless you choose otherwise), or pick a circumstance here.",
            )
        return ClassmatesResult(most_in_common(caller, others, limit=limit))

    async def suggestions(
        self, guild_id: int, user_id: int, candidate_ids: Sequence[int], *, limit: int = 3
    ) -> list[Classmate]:
        """Up to ``limit`` classmates who share a circumstance with the user and chose to be
        findable for it (the private suggestions to a newcomer nobody has welcomed yet)."""
        caller = await self.get(guild_id, user_id)
        if caller is None:
            return []
        others = list((await self.for_users(guild_id, candidate_ids)).values())
        return most_in_common(caller, others, limit=limit)


__all__ = ["PREFER_NOT_TO_SAY", "ClassmatesResult", "ProfileService"]
