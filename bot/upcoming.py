"""What's coming: every feature declares its upcoming posts and batches for /course upcoming.

A feature registers a provider once (from its cog's ``cog_load``)::

    async def my_items(guild_id: int, start: datetime, end: datetime) -> list[UpcomingItem]:
        return [UpcomingItem(key=f"prompt:{cohort_id}:{day}", when=..., kind="weekly prompt",
                             preview=text, cohort_id=cohort_id,
                             skip=skip_fn, edit=edit_fn, current_text=text)]

    app.upcoming.register("prompts", my_items)

``skip(actor_id)`` / ``edit(new_text, actor_id)`` are called when an instructor presses the
buttons; a feature that decides what to send at send time can store the choice with
:meth:`UpcomingRegistry.set_override` and read it back with :meth:`override` (keyed by the
item's key) — the nudge engine does exactly that. Rows already queued in the outbox are
listed by the outbox's own provider (skip cancels them; edit replaces a post's text).

Keys must be stable between two listings (the buttons carry them) and at most
:data:`MAX_KEY_LENGTH` characters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from bot.clock import Clock
from bot.outbox.repository import OccasionOverride, OccasionRepository

__all__ = ["MAX_KEY_LENGTH", "Provider", "UpcomingItem", "UpcomingRegistry"]

log = logging.getLogger(__name__)

MAX_KEY_LENGTH: Final = 70  # leaves room for the custom_id prefix within Discord's 100


@dataclass(frozen=True)
class UpcomingItem:
    key: str
    when: datetime
    kind: str
    preview: str
    cohort_id: int = 0
    detail: str = ""
    skip: Callable[[int], Awaitable[None]] | None = None
    edit: Callable[[str, int], Awaitable[None]] | None = None
    current_text: str | None = None

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > MAX_KEY_LENGTH:
            raise ValueError(f"an upcoming item key needs 1–{MAX_KEY_LENGTH} characters")


Provider = Callable[[int, datetime, datetime], Awaitable[list[UpcomingItem]]]


class UpcomingRegistry:
    def __init__(self, occasions: OccasionRepository, clock: Clock) -> None:
        self._providers: dict[str, Provider] = {}
        self._occasions = occasions
        self._clock = clock

    def register(self, name: str, provider: Provider) -> None:
        """Add (or replace) a feature's provider."""
        self._providers[name] = provider

    async def items(self, guild_id: int, start: datetime, end: datetime) -> list[UpcomingItem]:
        found: list[UpcomingItem] = []
        for name, provider in self._providers.items():
            try:
                found.extend(await provider(guild_id, start, end))
            except Exception:
                log.exception("upcoming provider %s failed for guild %s", name, guild_id)
        return sorted(found, key=lambda item: (item.when, item.kind, item.key))

    async def find(self, guild_id: int, key: str, *, horizon_days: int = 31) -> UpcomingItem | None:
        now = self._clock.now()
        for item in await self.items(guild_id, now, now + timedelta(days=horizon_days)):
            if item.key == key:
                return item
        return None

    async def set_override(
        self,
        guild_id: int,
        key: str,
        action: Literal["skip", "edit"],
        body: str | None,
        *,
        actor_id: int,
    ) -> None:
        await self._occasions.set(
            guild_id, key, action, body, updated_by=actor_id, now=self._clock.now()
        )

    async def override(self, guild_id: int, key: str) -> OccasionOverride | None:
        return await self._occasions.get(guild_id, key)
