"""Circles: opt-in groups of classmates who share a circumstance (working parents, caregivers,
first-generation students …). Each circle is one or more private threads in the coffee shop;
when a thread reaches the server's size cap, the next member opens a second one.

The Discord side (creating, unarchiving and joining threads) is behind :class:`CircleThreads`,
which the circles cog implements; this service decides and records.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from bot.clock import Clock
from bot.errors import UserFacingError
from bot.text import TextError, quote_input
from cogs.coffee_shop.repository import Circle, CoffeeStore
from cogs.coffee_shop.rules import choose_thread, circle_thread_name, clean_circle_name

__all__ = ["CircleService", "CircleThreads", "JoinResult"]

MAX_CIRCLES = 25  # one autocomplete page


class CircleThreads(Protocol):
    """Thread operations in the guild's coffee-shop channel."""

    async def create(self, guild_id: int, name: str) -> int:
        """Open a private thread (``invitable=False``) in the coffee shop; return its id."""
        ...

    async def add_member(self, guild_id: int, thread_id: int, user_id: int) -> None:
        """Add someone (unarchiving the thread first if it idled out)."""
        ...

    async def remove_member(self, guild_id: int, thread_id: int, user_id: int) -> None: ...

    async def rename(self, guild_id: int, thread_id: int, name: str) -> None: ...


@dataclass(frozen=True)
class JoinResult:
    circle: Circle
    thread_id: int
    new_thread: bool


def _name(value: str) -> str:
    try:
        return clean_circle_name(value)
    except TextError as error:
        raise UserFacingError(f"{error} Nothing was changed.") from error


@dataclass(eq=False, kw_only=True)
class CircleService:
    store: CoffeeStore
    clock: Clock
    # Two joins at once must not both open "second" threads.
    _locks: dict[int, asyncio.Lock] = field(init=False, default_factory=dict)

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    async def all(self, guild_id: int) -> list[Circle]:
        return await self.store.circles.all(guild_id)

    async def circles_of(self, guild_id: int, user_id: int) -> list[str]:
        return await self.store.circles.circles_of(guild_id, user_id)

    async def is_circle_thread(self, guild_id: int, thread_id: int) -> bool:
        return await self.store.circles.circle_of_thread(guild_id, thread_id) is not None

    async def _find(self, guild_id: int, name: str) -> Circle:
        circle = await self.store.circles.find(guild_id, " ".join((name or "").split()))
        if circle is None:
            known = ", ".join(c.name for c in await self.store.circles.all(guild_id))
            hint = f" Circles here: {known}." if known else " There are no circles yet."
            raise UserFacingError(f"There is no circle called {quote_input(name)}.{hint}")
        return circle

    # ----- instructors -------------------------------------------------------------------

    async def add(self, guild_id: int, name: str) -> Circle:
        cleaned = _name(name)
        if len(await self.store.circles.all(guild_id)) >= MAX_CIRCLES:
            raise UserFacingError(f"A server can have at most {MAX_CIRCLES} circles.")
        circle = await self.store.circles.add(guild_id, cleaned, now=self.clock.now())
        if circle is None:
            raise UserFacingError(f"There is already a circle called {quote_input(cleaned)}.")
        return circle

    async def rename(self, guild_id: int, old: str, new: str, threads: CircleThreads) -> Circle:
        circle = await self._find(guild_id, old)
        cleaned = _name(new)
        clash = await self.store.circles.find(guild_id, cleaned)
        if clash is not None and clash.circle_id != circle.circle_id:
            raise UserFacingError(f"There is already a circle called {quote_input(cleaned)}.")
        await self.store.circles.rename(guild_id, circle.circle_id, cleaned)
        for position, thread_id in enumerate(
            await self.store.circles.thread_ids(guild_id, circle.circle_id), start=1
        ):
            await threads.rename(guild_id, thread_id, circle_thread_name(cleaned, position))
        return Circle(guild_id, circle.circle_id, cleaned)

    async def remove(self, guild_id: int, name: str) -> tuple[Circle, list[int]]:
        """Forget the circle; its threads stay on Discord for their members (returned)."""
        circle = await self._find(guild_id, name)
        thread_ids = await self.store.circles.thread_ids(guild_id, circle.circle_id)
        await self.store.circles.remove(guild_id, circle.circle_id)
        return circle, thread_ids

    # ----- students ----------------------------------------------------------------------

    async def join(
        self, guild_id: int, name: str, user_id: int, threads: CircleThreads, *, cap: int
    ) -> JoinResult:
        circle = await self._find(guild_id, name)
        async with self._lock(guild_id):
            existing = await self.store.circles.membership(guild_id, circle.circle_id, user_id)
            if existing is not None:
                raise UserFacingError(
                    f"You're already in **{circle.name}** — find it in the coffee shop's threads "
                    f"(<#{existing}>)."
                )
            open_threads = await self.store.circles.threads(guild_id, circle.circle_id)
            thread_id = choose_thread(open_threads, cap)
            new_thread = thread_id is None
            if thread_id is None:
                position = await self.store.circles.next_thread_position(guild_id, circle.circle_id)
                thread_id = await threads.create(
                    guild_id, circle_thread_name(circle.name, position)
                )
                await self.store.circles.add_thread(guild_id, circle.circle_id, thread_id)
            await threads.add_member(guild_id, thread_id, user_id)
            await self.store.circles.add_member(
                guild_id, circle.circle_id, user_id, thread_id, now=self.clock.now()
            )
        return JoinResult(circle, thread_id, new_thread)

    async def leave(self, guild_id: int, name: str, user_id: int, threads: CircleThreads) -> Circle:
        circle = await self._find(guild_id, name)
        async with self._lock(guild_id):
            thread_id = await self.store.circles.membership(guild_id, circle.circle_id, user_id)
            if thread_id is None:
                raise UserFacingError(
                    f"You're not in **{circle.name}**, so there's nothing to leave."
                )
            await threads.remove_member(guild_id, thread_id, user_id)
            await self.store.circles.remove_member(guild_id, circle.circle_id, user_id)
        return circle
