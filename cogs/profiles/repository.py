"""Life-circumstance profiles and matching preferences. All their SQL lives here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from bot.store.contract import PersonRows, TablesRepository
from bot.store.times import to_db_time
from cogs.profiles.rules import (
    DEFAULT_VISIBILITY,
    Attribute,
    Preference,
    Profile,
    ProfileEntry,
    Visibility,
)

_CHUNK = 500  # SQLite's bound-parameter limit, with room for the guild id


class ProfileRepository(TablesRepository):
    """Tables ``profile_attributes`` and ``profile_preferences``."""

    personal_tables = ("profile_attributes", "profile_preferences")
    exported = (
        PersonRows(
            "profile_attributes", "attribute, value, visibility, updated_at", order_by="attribute"
        ),
        PersonRows(
            "profile_preferences", "attribute, preference, updated_at", order_by="attribute"
        ),
    )

    async def get(self, guild_id: int, user_id: int) -> Profile | None:
        found = await self.for_users(guild_id, [user_id])
        return found.get(user_id)

    async def for_users(self, guild_id: int, user_ids: Sequence[int]) -> dict[int, Profile]:
        """Profiles of those users who have one (anyone without a row is absent)."""
        entries: dict[int, dict[Attribute, ProfileEntry]] = {}
        preferences: dict[int, dict[Attribute, Preference]] = {}
        ids = list(dict.fromkeys(user_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" for _ in chunk)
            for row in await self._db.fetchall(
                "SELECT user_id, attribute, value, visibility FROM profile_attributes "
                f"WHERE guild_id = ? AND user_id IN ({marks})",
                (guild_id, *chunk),
            ):
                entries.setdefault(row["user_id"], {})[cast(Attribute, row["attribute"])] = (
                    ProfileEntry(row["value"], cast(Visibility, row["visibility"]))
                )
            for row in await self._db.fetchall(
                "SELECT user_id, attribute, preference FROM profile_preferences "
                f"WHERE guild_id = ? AND user_id IN ({marks})",
                (guild_id, *chunk),
            ):
                preferences.setdefault(row["user_id"], {})[cast(Attribute, row["attribute"])] = (
                    cast(Preference, row["preference"])
                )
        return {
            user_id: Profile(
                guild_id, user_id, entries.get(user_id, {}), preferences.get(user_id, {})
            )
            for user_id in ids
            if user_id in entries or user_id in preferences
        }

    async def set_values(
        self,
        guild_id: int,
        user_id: int,
        values: Mapping[Attribute, str],
        *,
        visibility: Visibility | None,
        now: datetime,
    ) -> None:
        """Set values in one transaction. ``visibility`` None keeps each attribute's current
        visibility (private for a new one)."""
        stamp = to_db_time(now)
        async with self._db.transaction() as conn:
            for attribute, value in values.items():
                await conn.execute(
                    "INSERT INTO profile_attributes "
                    "(guild_id, user_id, attribute, value, visibility, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id, attribute) "
                    "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, "
                    "visibility = COALESCE(?, profile_attributes.visibility)",
                    (
                        guild_id,
                        user_id,
                        attribute,
                        value,
                        visibility or DEFAULT_VISIBILITY,
                        stamp,
                        visibility,
                    ),
                )

    async def set_visibility(
        self,
        guild_id: int,
        user_id: int,
        attributes: Sequence[Attribute],
        visibility: Visibility,
        *,
        now: datetime,
    ) -> int:
        """Change who sees already-set attributes; returns how many rows changed."""
        if not attributes:
            return 0
        marks = ",".join("?" for _ in attributes)
        return await self._db.execute_write(
            f"UPDATE profile_attributes SET visibility = ?, updated_at = ? "
            f"WHERE guild_id = ? AND user_id = ? AND attribute IN ({marks})",
            (visibility, to_db_time(now), guild_id, user_id, *attributes),
        )

    async def clear(self, guild_id: int, user_id: int, attribute: Attribute | None = None) -> int:
        """Remove one attribute, or (None) the whole profile and preferences."""
        if attribute is not None:
            return await self._db.execute_write(
                "DELETE FROM profile_attributes "
                "WHERE guild_id = ? AND user_id = ? AND attribute = ?",
                (guild_id, user_id, attribute),
            )
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM profile_attributes WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            await conn.execute(
                "DELETE FROM profile_preferences WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            return max(cursor.rowcount, 0)

    async def set_preference(
        self,
        guild_id: int,
        user_id: int,
        attribute: Attribute,
        preference: Preference,
        *,
        now: datetime,
    ) -> None:
        """Matching preferences: similar / different / don't mind, per attribute."""
        await self._db.upsert(
            "profile_preferences",
            {"guild_id": guild_id, "user_id": user_id, "attribute": attribute},
            {"preference": preference, "updated_at": to_db_time(now)},
        )

    async def findable_user_ids(self, guild_id: int) -> list[int]:
        """Everyone with at least one attribute findable by classmates."""
        return await self._db.fetchcolumn(
            int,
            "SELECT DISTINCT user_id FROM profile_attributes "
            "WHERE guild_id = ? AND visibility = 'classmates' ORDER BY user_id",
            (guild_id,),
        )

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        await self.clear(guild_id, user_id)
