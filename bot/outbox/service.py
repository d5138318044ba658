"""The outbox: every scheduled or bulk message is a row first, then sent once (by the sender).

Other features queue through :class:`OutboxService` (``app.outbox``)::

    row_id = await app.outbox.enqueue(
        guild_id=g, cohort_id=c, kind="prompt", dedupe_key=f"week:{week_key}",
        channel_id=discussion_id,            # or user_id=… for a DM (opted-in students only)
        content="This week's prompt is open — here's the link",
        embeds=[embed],                      # discord.Embed or dicts
        view_key="prompt:answer", view_args=("42",),   # a factory registered below
        mention_user_ids=[…],                # exactly who may be pinged (default: nobody)
        mention_role_ids=[…],                # e.g. an opt-in alerts role
        attachments=[OutboxAttachment("table.csv", data)],   # files (≤ 10 MiB together)
        thread_name="Week 3 discussion", tag_ids=[…],        # → a forum post in channel_id
        not_before=when, expires_at=None,
    )                                        # → the new row id, or None: already queued

* ``dedupe_key`` is unique per (guild, kind): queueing the same thing twice is a no-op.
* ``await app.outbox.lookup(guild_id, kind, dedupe_key)`` → the row, with ``message_id`` and
  ``sent_channel_id`` once sent; or ``app.outbox.on_sent(kind, callback)`` to be called
  (``callback(row, message_id, channel_id)``) right after a row of that kind is delivered
  — e.g. to open a thread on the prompt post.
* ``app.outbox.register_view(key, factory)``: ``factory(args) -> discord.ui.View`` builds a
  persistent view for a queued message (register the view itself with the bot too, so its
  buttons survive restarts).
* ``await app.outbox.paused(guild_id)`` (missing permission), ``failed(guild_id)``,
  ``status_lines(guild_id)`` for ``/course status`` and the digest.
* ``await app.outbox.wait_settled(guild_id, row_ids, timeout)``: for a command that queues a
  post and wants to answer with its link ("post now"); returns the rows as they are then
  (``sent`` with ``message_id``, or still ``pending`` when sending is paused or slow).
* With ``thread_name`` the row is a forum post (``target = 'forum_post'``): a thread with its
  starter message in the forum ``channel_id``; ``message_id`` is then the thread's id (equal to
  its starter message's id) and ``on_sent`` gets the forum's id as the channel.

Delivery is the sender's (:mod:`bot.outbox.sender`); Discord I/O is the transport's
(:mod:`bot.outbox.transport`). Both stay importable from here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

import discord

from bot.clock import Clock
from bot.errors import UserFacingError
from bot.outbox.repository import (
    DmChannelRepository,
    NewOutboxRow,
    OutboxAttachment,
    OutboxMessage,
    OutboxRepository,
    OutboxRow,
)
from bot.outbox.sender import MULTI_WRITER_LEASE, OutboxSender, SenderConfig, TokenBucket
from bot.outbox.transport import DiscordTransport, RecentMessage, RecentThread, Transport
from bot.text import EMBED_LIMITS, MESSAGE_LIMIT
from bot.upcoming import UpcomingItem

__all__ = [
    "DiscordTransport",
    "OutboxAttachment",
    "OutboxSender",
    "OutboxService",
    "RecentMessage",
    "RecentThread",
    "SenderConfig",
    "TokenBucket",
    "Transport",
]

log = logging.getLogger(__name__)

SentCallback = Callable[[OutboxRow, int, int], Awaitable[None]]
ViewFactory = Callable[[tuple[str, ...]], discord.ui.View]
PauseHook = Callable[[int, int | None, str], Awaitable[None]]
DmClosedHook = Callable[[int, int], Awaitable[None]]
#: ``callback(row)`` for a DM row that failed because its recipient's DMs are closed
UndeliveredCallback = Callable[[OutboxRow], Awaitable[None]]

THREAD_NAME_LIMIT = 100


class QueuedMessage(TypedDict, total=False):
    """The keywords of :meth:`OutboxService.enqueue`: those of :meth:`OutboxService.new_row`."""

    guild_id: Required[int]
    kind: Required[str]
    dedupe_key: Required[str]
    content: str | None
    embeds: Sequence[discord.Embed | dict[str, Any]]
    channel_id: int | None
    user_id: int | None
    cohort_id: int
    view_key: str | None
    view_args: Sequence[str]
    mention_user_ids: Sequence[int]
    mention_role_ids: Sequence[int]
    attachments: Sequence[OutboxAttachment]
    thread_name: str | None
    tag_ids: Sequence[int]
    not_before: datetime | None
    expires_at: datetime | None


class OutboxService:
    """Queueing, look-ups and hooks (no Discord I/O; the sender does that)."""

    def __init__(
        self, repository: OutboxRepository, dm_channels: DmChannelRepository, clock: Clock
    ) -> None:
        self.repository = repository
        #: each student's DM channel id and DM-closed mark (the sender keeps them up to date)
        self.dm_channels = dm_channels
        self._clock = clock
        self._sent_callbacks: dict[str, list[SentCallback]] = {}
        self._views: dict[str, ViewFactory] = {}
        self._pause_hooks: list[PauseHook] = []
        self._dm_closed_hooks: list[DmClosedHook] = []
        self._undelivered_callbacks: dict[str, list[UndeliveredCallback]] = {}
        self.sender: OutboxSender | None = None
        #: how the sender the client starts paces itself (set before the bot starts). On
        #: PostgreSQL several processes may drain the outbox: claims then carry a lease.
        self.sender_config = (
            SenderConfig(lease=MULTI_WRITER_LEASE)
            if repository.dialect == "postgresql"
            else SenderConfig()
        )

    # ----- queueing

    async def enqueue(self, **message: Unpack[QueuedMessage]) -> int | None:
        """Queue one message; the new row id, or None when (guild, kind, dedupe_key) exists."""
        (row_id,) = await self.enqueue_rows([self.new_row(**message)])
        return row_id

    def new_row(
        self,
        *,
        guild_id: int,
        kind: str,
        dedupe_key: str,
        content: str | None = None,
        embeds: Sequence[discord.Embed | dict[str, Any]] = (),
        channel_id: int | None = None,
        user_id: int | None = None,
        cohort_id: int = 0,
        view_key: str | None = None,
        view_args: Sequence[str] = (),
        mention_user_ids: Sequence[int] = (),
        mention_role_ids: Sequence[int] = (),
        attachments: Sequence[OutboxAttachment] = (),
        thread_name: str | None = None,
        tag_ids: Sequence[int] = (),
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> NewOutboxRow:
        """Build (and validate) a row for :meth:`enqueue_rows` (many rows, one transaction)."""
        if content is not None and len(content) > MESSAGE_LIMIT:
            raise ValueError(f"content is {len(content)} characters; the limit is {MESSAGE_LIMIT}")
        embed_dicts: list[dict[str, Any]] = []
        for embed in embeds:
            if isinstance(embed, discord.Embed):
                embed_dicts.append(dict(embed.to_dict()))
            else:
                embed_dicts.append(dict(embed))
        if len(embed_dicts) > EMBED_LIMITS.per_message:
            raise ValueError(f"at most {EMBED_LIMITS.per_message} embeds per message")
        if not content and not embed_dicts and not attachments:
            raise ValueError("a message needs content, an embed or a file")
        if thread_name is not None and not 1 <= len(thread_name) <= THREAD_NAME_LIMIT:
            raise ValueError(f"a forum post's name has 1–{THREAD_NAME_LIMIT} characters")
        if thread_name is not None and user_id is not None:
            raise ValueError("a forum post goes to a forum channel, not a DM")
        if view_key is not None and view_key not in self._views:
            raise ValueError(f"no view factory registered as {view_key!r}")
        return NewOutboxRow(
            guild_id=guild_id,
            cohort_id=cohort_id,
            kind=kind,
            dedupe_key=dedupe_key,
            message=OutboxMessage(
                content=content,
                embeds=tuple(embed_dicts),
                view_key=view_key,
                view_args=tuple(str(a) for a in view_args),
                mention_user_ids=tuple(int(u) for u in mention_user_ids),
                mention_role_ids=tuple(int(r) for r in mention_role_ids),
                thread_name=thread_name,
                tag_ids=tuple(int(t) for t in tag_ids),
            ),
            not_before=not_before or self._clock.now(),
            channel_id=channel_id,
            user_id=user_id,
            expires_at=expires_at,
            target="message" if thread_name is None else "forum_post",
            attachments=tuple(attachments),
        )

    async def enqueue_rows(self, rows: Sequence[NewOutboxRow]) -> list[int | None]:
        ids = await self.repository.enqueue_many(rows, now=self._clock.now())
        if any(i is not None for i in ids):
            self.wake()
        return ids

    async def lookup(self, guild_id: int, kind: str, dedupe_key: str) -> OutboxRow | None:
        return await self.repository.by_dedupe_key(guild_id, kind, dedupe_key)

    async def get(self, guild_id: int, row_id: int) -> OutboxRow | None:
        return await self.repository.get(guild_id, row_id)

    async def cancel(self, guild_id: int, row_ids: Sequence[int], reason: str) -> int:
        return await self.repository.cancel(guild_id, row_ids, reason)

    def wake(self) -> None:
        if self.sender is not None:
            self.sender.wake()

    async def wait_settled(
        self,
        guild_id: int,
        row_ids: Sequence[int],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[OutboxRow]:
        """Wait (up to ``timeout`` seconds) until each row is no longer pending or sending;
        the rows as they are then, in the given order (a missing row is left out)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.wake()
        while True:
            rows = [r for r in [await self.get(guild_id, i) for i in row_ids] if r is not None]
            if all(r.state not in ("pending", "sending") for r in rows):
                return rows
            if loop.time() >= deadline or self.sender is None:
                return rows
            await asyncio.sleep(0.05)

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every row due now is sent or settled (tests, the demo, the benchmark)."""
        if self.sender is None:
            raise RuntimeError("the outbox sender is not running")
        await self.sender.drain(timeout)

    # ----- hooks

    def on_sent(self, kind: str, callback: SentCallback) -> None:
        """Call ``callback(row, message_id, channel_id)`` after each row of ``kind`` is sent."""
        self._sent_callbacks.setdefault(kind, []).append(callback)

    def register_view(self, key: str, factory: ViewFactory) -> None:
        self._views[key] = factory

    def build_view(self, message: OutboxMessage) -> discord.ui.View | None:
        if message.view_key is None:
            return None
        factory = self._views.get(message.view_key)
        if factory is None:
            log.warning("No view factory %r; sending without buttons", message.view_key)
            return None
        return factory(message.view_args)

    def on_pause(self, hook: PauseHook) -> None:
        """``hook(guild_id, channel_id, reason)`` once when a guild's sending is paused."""
        self._pause_hooks.append(hook)

    def on_dm_closed(self, hook: DmClosedHook) -> None:
        """``hook(guild_id, user_id)`` when a student is newly marked DM-closed."""
        self._dm_closed_hooks.append(hook)

    def on_dm_undelivered(self, kind: str, callback: UndeliveredCallback) -> None:
        """Call ``callback(row)`` when a DM row of ``kind`` fails because the recipient's DMs
        are closed (known before sending, or found by the send), e.g. to tell someone else."""
        self._undelivered_callbacks.setdefault(kind, []).append(callback)

    async def _run_hooks(self, hooks: Iterable[Callable[..., Awaitable[None]]], *args: Any) -> None:
        for hook in hooks:
            try:
                await hook(*args)
            except Exception:
                log.exception("outbox hook %r failed", hook)

    async def notify_sent(self, row: OutboxRow, message_id: int, channel_id: int) -> None:
        await self._run_hooks(self._sent_callbacks.get(row.kind, ()), row, message_id, channel_id)

    async def notify_paused(self, guild_id: int, channel_id: int | None, reason: str) -> None:
        await self._run_hooks(self._pause_hooks, guild_id, channel_id, reason)

    async def notify_dm_closed(self, guild_id: int, user_id: int) -> None:
        await self._run_hooks(self._dm_closed_hooks, guild_id, user_id)

    async def notify_dm_undelivered(self, row: OutboxRow) -> None:
        await self._run_hooks(self._undelivered_callbacks.get(row.kind, ()), row)

    # ----- /course upcoming

    async def upcoming_items(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[UpcomingItem]:
        """Queued rows due before ``end``: each channel post (skip / edit its text), and the
        DMs of one kind and cohort as one batch (skip cancels them all)."""
        rows = await self.repository.pending_before(guild_id, end)
        items: list[UpcomingItem] = []
        batches: dict[tuple[int, str], list[OutboxRow]] = {}
        for row in rows:
            if row.user_id is not None:
                batches.setdefault((row.cohort_id, row.kind), []).append(row)
                continue
            items.append(self._post_item(row))
        for (cohort_id, kind), batch in batches.items():
            ids = [r.id for r in batch]

            async def skip(actor_id: int, ids: list[int] = ids) -> None:
                await self.cancel(guild_id, ids, f"skipped by {actor_id}")

            items.append(
                UpcomingItem(
                    key=f"outbox-dm:{cohort_id}:{kind}"[:70],
                    when=max(batch[0].not_before, start),
                    kind=f"{kind} DMs",
                    preview=batch[0].message.preview(),
                    cohort_id=cohort_id,
                    detail=f"{len(batch)} queued DM(s), each at the student's own time",
                    skip=skip,
                )
            )
        return items

    def _post_item(self, row: OutboxRow) -> UpcomingItem:
        async def skip(actor_id: int) -> None:
            await self.cancel(row.guild_id, [row.id], f"skipped by {actor_id}")

        async def edit(text: str, actor_id: int) -> None:
            message = replace(row.message, content=text)
            if not await self.repository.replace_message(row.guild_id, row.id, message):
                raise UserFacingError("That message was already sent or cancelled.")

        target = f" in <#{row.channel_id}>" if row.channel_id else ""
        return UpcomingItem(
            key=f"outbox:{row.id}",
            when=row.not_before,
            kind=f"{row.kind} post",
            preview=row.message.preview(),
            cohort_id=row.cohort_id,
            detail=f"queued{target}",
            skip=skip,
            edit=edit,
            current_text=row.message.content or "",
        )

    # ----- instructors

    async def paused(self, guild_id: int) -> bool:
        return await self.repository.paused(guild_id) is not None

    async def resume(self, guild_id: int) -> bool:
        resumed = await self.repository.resume(guild_id)
        if resumed:
            self.wake()
        return resumed

    async def failed(self, guild_id: int, limit: int = 10) -> list[OutboxRow]:
        return await self.repository.list_state(guild_id, "failed", limit)

    async def status_lines(self, guild_id: int) -> list[str]:
        """Short lines for /course status: queue size, failures, a paused guild."""
        counts = await self.repository.counts(guild_id)
        lines = [
            f"Outbox: {counts.get('pending', 0)} queued, {counts.get('sent', 0)} sent, "
            f"{counts.get('failed', 0)} failed."
        ]
        pause = await self.repository.paused(guild_id)
        if pause is not None:
            where = f" in <#{pause.channel_id}>" if pause.channel_id else ""
            lines.append(
                f"❌ Sending is paused: {pause.reason}{where}. Fix the permission, then run "
                "/course nudge resume."
            )
        for row in await self.repository.list_state(guild_id, "failed", 5):
            if row.last_error == "dm_closed":
                continue  # shown as DMs closed, not as a failure to fix
            target = f"<#{row.channel_id}>" if row.channel_id else "a DM"
            lines.append(f"❌ Not delivered: {row.kind} to {target} ({row.last_error}).")
        return lines
