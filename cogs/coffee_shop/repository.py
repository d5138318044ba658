"""The coffee shop's tables (posts, kudos, milestones, the pulse, questions, circles). Every
query filters by guild_id.

The repositories live in ``posts_repository`` (posts, kudos), ``pulse_repository``
(milestones, the pulse) and ``circles_repository`` (questions, circles); this module keeps
the server config and student settings, the :class:`CoffeeStore` bundle, and re-exports
the rest.

Those modules describe the digest's weekly counts and how the pulse stays anonymous.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.store.contract import (
    PersonRows,
    TablesRepository,
)
from bot.store.db import Database
from bot.store.guild_cache import GuildCache
from bot.store.rows import SettingsTable
from bot.store.times import to_db_time
from cogs.coffee_shop.circles_repository import Circle, CircleRepository, QuestionHistoryRepository
from cogs.coffee_shop.posts_repository import CoffeePost, CoffeePostRepository, KudosRepository
from cogs.coffee_shop.pulse_repository import MilestoneRepository, Pulse, PulseRepository, ReachOut
from cogs.coffee_shop.rules import DEFAULT_CIRCLE_SIZE, DEFAULT_KUDOS_PER_DAY

__all__ = [
    "Circle",
    "CircleRepository",
    "CoffeeConfig",
    "CoffeeConfigRepository",
    "CoffeePost",
    "CoffeePostRepository",
    "CoffeeSettingsRepository",
    "CoffeeStore",
    "KudosRepository",
    "MilestoneRepository",
    "Pulse",
    "PulseRepository",
    "QuestionHistoryRepository",
    "ReachOut",
]


# ---------------------------------------------------------------------- config


@dataclass(frozen=True)
class CoffeeConfig:
    guild_id: int
    kudos_per_day: int = DEFAULT_KUDOS_PER_DAY
    circle_size: int = DEFAULT_CIRCLE_SIZE


_CONFIGS = SettingsTable("coffee_config", CoffeeConfig, key=("guild_id",))


class CoffeeConfigRepository(TablesRepository):
    """Per-server coffee-shop limits (no personal data)."""

    personal_tables: tuple[str, ...] = ()
    non_personal_tables: tuple[str, ...] = ("coffee_config",)

    async def get(self, guild_id: int) -> CoffeeConfig:
        return await _CONFIGS.get(self._db, guild_id)

    async def save(self, config: CoffeeConfig) -> None:
        await _CONFIGS.save(self._db, config)


# ---------------------------------------------------------------------- student settings


class CoffeeSettingsRepository(TablesRepository):
    """A student's own settings (milestone notes; off by default)."""

    personal_tables: tuple[str, ...] = ("coffee_settings",)

    exported = (PersonRows("coffee_settings", "milestones_on, updated_at"),)

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        # Asked at every milestone (each newcomer's first intro is one): who turned notes on,
        # per guild, read once and then from memory; every write here forgets the guild.
        self._notes_on: GuildCache[frozenset[int]] = GuildCache()

    async def milestones_on(self, guild_id: int, user_id: int) -> bool:
        return user_id in await self._notes_on.get(guild_id, lambda: self._read_notes_on(guild_id))

    async def _read_notes_on(self, guild_id: int) -> frozenset[int]:
        return frozenset(
            await self._db.fetchcolumn(
                int,
                "SELECT user_id FROM coffee_settings WHERE guild_id = ? AND milestones_on <> 0",
                (guild_id,),
            )
        )

    async def set_milestones(self, guild_id: int, user_id: int, on: bool, *, now: datetime) -> None:
        try:
            await self._db.upsert(
                "coffee_settings",
                {"guild_id": guild_id, "user_id": user_id},
                {"milestones_on": 1 if on else 0, "updated_at": to_db_time(now)},
            )
        finally:
            self.forget(guild_id)  # committed or not: a read may have seen it

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        try:
            await super().delete_user(guild_id, user_id)
        finally:
            self.forget(guild_id)

    def forget(self, guild_id: int) -> None:
        self._notes_on.forget(guild_id)


# ---------------------------------------------------------------------- bundle


@dataclass(frozen=True)
class CoffeeStore:
    """Every coffee-shop repository, built from one database."""

    config: CoffeeConfigRepository
    settings: CoffeeSettingsRepository
    posts: CoffeePostRepository
    kudos: KudosRepository
    milestones: MilestoneRepository
    pulses: PulseRepository
    questions: QuestionHistoryRepository
    circles: CircleRepository

    @classmethod
    def open(cls, db: Database) -> CoffeeStore:
        return cls(
            config=CoffeeConfigRepository(db),
            settings=CoffeeSettingsRepository(db),
            posts=CoffeePostRepository(db),
            kudos=KudosRepository(db),
            milestones=MilestoneRepository(db),
            pulses=PulseRepository(db),
            questions=QuestionHistoryRepository(db),
            circles=CircleRepository(db),
        )

    def repositories(self) -> Iterable[object]:
        return (
            self.config,
            self.settings,
            self.posts,
            self.kudos,
            self.milestones,
            self.pulses,
            self.questions,
            self.circles,
        )
