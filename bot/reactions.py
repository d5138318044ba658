"""Reactions the bot adds on its own (an intro's "thanks, that counts"), sent in the background
at a small, steady pace.

Every request the bot makes outside an interaction callback counts against Discord's global
50 requests/s per token, and the outbox sender already takes 45 of them. A reaction is only a
courtesy: it must never hold up the event that asked for it, and a burst of intros (a cohort's
first morning) must not spend the budget that DMs and posts need. So a feature queues the
reaction here and returns; one task sends the queue oldest first, at most ``rate`` a second.

The queue is in memory. A reaction still queued when the bot stops is not sent (the intro
itself is already stored); a queue that is full drops the new reaction and says so in the log,
because a thanks that would arrive many minutes late says little.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import discord

from bot.outbox.sender import TokenBucket

__all__ = ["AddReaction", "ReactionQueue"]

log = logging.getLogger(__name__)

#: ``add(channel_id, message_id, emoji)``: one REST request that adds the bot's reaction.
AddReaction = Callable[[int, int, str], Awaitable[None]]

#: Discord paces one channel's reactions at about four a second.
DEFAULT_RATE: Final = 4.0
#: About two minutes of reactions at the default rate.
DEFAULT_MAX_PENDING: Final = 500


class ReactionQueue:
    """Queue a reaction with :meth:`add` (never blocks); :meth:`start` sends the queue."""

    def __init__(
        self,
        add_reaction: AddReaction,
        *,
        rate: float = DEFAULT_RATE,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._add_reaction = add_reaction
        self._bucket = TokenBucket(rate, capacity=max(1.0, rate))
        self._max_pending = max_pending
        # A dict keeps insertion order and makes the same reaction queued twice one request.
        self._pending: dict[tuple[int, int, str], None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, channel_id: int, message_id: int, emoji: str) -> bool:
        """Queue the bot's ``emoji`` reaction on a message. False when the queue is full and
        the reaction was dropped."""
        key = (channel_id, message_id, emoji)
        if key in self._pending:
            return True
        if len(self._pending) >= self._max_pending:
            if self.dropped % 100 == 0:  # the first, then every hundredth
                log.warning(
                    "Reaction queue full (%d waiting): dropping reactions (%d so far)",
                    len(self._pending),
                    self.dropped + 1,
                )
            self.dropped += 1
            return False
        self._pending[key] = None
        self._wake.set()
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cohortbot-reactions")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending:
            log.info("Stopping with %d reactions not sent", len(self._pending))
            self._pending.clear()

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._bucket.acquire()
            key = next(iter(self._pending))
            channel_id, message_id, emoji = key
            try:
                await self._add_reaction(channel_id, message_id, emoji)
                self.sent += 1
            except discord.NotFound:
                self.failed += 1  # the message was deleted meanwhile: nothing to thank
            except discord.HTTPException as error:
                self.failed += 1
                log.warning("Could not add a reaction in channel %s: %s", channel_id, error)
            except Exception:
                self.failed += 1
                log.exception("Adding a reaction in channel %s failed", channel_id)
            # Not on cancellation: stop() then counts the reaction in flight as not sent.
            self._pending.pop(key, None)
