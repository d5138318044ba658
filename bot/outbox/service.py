"""The outbox and its sender: every scheduled or bulk message is a row first, then sent once.

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

Delivery (:class:`OutboxSender`, started by the client and stopped on bot close):

* At most once: the row is claimed (``sending``) before the HTTP call and sent with
  ``nonce = row id`` (discord.py then sets ``enforce_nonce``). A row found in ``sending`` at
  start was interrupted: the channel's recent history is searched for that nonce (or the same
  content, or the same first embed title, from the bot) and the row is marked sent, or
  released to be sent again. A forum post carries no nonce (Discord's forum endpoint takes
  none): the forum's active threads are searched for one the bot created with the same name.
  Either way only a message (thread) created after the row was claimed (its snowflake's time,
  allowing ``CLAIM_CLOCK_SKEW``) that no other row already recorded can match: an older
  identical message (last week's check-in) never stands in for the lost one. Discord returns
  no nonce in history, so for real the match is by content.
* Paced by a token bucket below Discord's global 50 requests/s; DM channel ids are kept in the
  database (a first DM costs two requests). discord.py already sleeps and retries 429s (and
  500/502/504) itself, so a 429 mostly costs time; when it gives up (or raises
  ``RateLimited``) the row goes back to ``pending`` with a retry time, not counted as an
  attempt, and the other rows continue.
* ``Forbidden`` 50007 (DMs closed): the student is marked DM-closed, the row ``failed``,
  nothing public is posted. 50013/50001 (missing permission): the guild's sending pauses, the
  instructor is told once in the leads channel, the row waits; other guilds continue.
  5xx: retried with exponential backoff (on the course clock) up to ``max_attempts``, then
  ``failed`` and listed in ``/course status``. Any other 4xx: ``failed`` at once.
* Nothing blocks the event loop: sends run as tasks (``concurrency`` at a time), database
  work is a few short transactions per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
import discord

from bot.backoff import FailureBackoff
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
from bot.store.db import StoreError
from bot.text import EMBEDS_PER_MESSAGE, MESSAGE_LIMIT
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

MISSING_PERMISSION_CODES = frozenset({50001, 50013})
DM_CLOSED_CODE = 50007
THREAD_NAME_LIMIT = 100
FORUM_ARCHIVE_MINUTES = 10080  # a week: prompt posts stay open for the whole course week
#: how far this host's clock may be ahead of Discord's when comparing a claim with a message
CLAIM_CLOCK_SKEW = timedelta(seconds=30)


# ---------------------------------------------------------------------- the service


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
        self.sender: OutboxSender | None = None
        #: how the sender the client starts paces itself (set before the bot starts)
        self.sender_config = SenderConfig()

    # ----- queueing

    async def enqueue(
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
    ) -> int | None:
        """Queue one message; the new row id, or None when (guild, kind, dedupe_key) exists."""
        row = self.new_row(
            guild_id=guild_id,
            kind=kind,
            dedupe_key=dedupe_key,
            content=content,
            embeds=embeds,
            channel_id=channel_id,
            user_id=user_id,
            cohort_id=cohort_id,
            view_key=view_key,
            view_args=view_args,
            mention_user_ids=mention_user_ids,
            mention_role_ids=mention_role_ids,
            attachments=attachments,
            thread_name=thread_name,
            tag_ids=tag_ids,
            not_before=not_before,
            expires_at=expires_at,
        )
        (row_id,) = await self.enqueue_rows([row])
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
        if len(embed_dicts) > EMBEDS_PER_MESSAGE:
            raise ValueError(f"at most {EMBEDS_PER_MESSAGE} embeds per message")
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


# ---------------------------------------------------------------------- pacing


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``capacity``.

    Real (monotonic) time, not the course clock: it paces requests to Discord.
    """

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate / 5)
        self._tokens = self.capacity
        self._at: float | None = None
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                if self._at is None:
                    self._at = now
                self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.rate)


# ---------------------------------------------------------------------- transport


@dataclass(frozen=True)
class RecentMessage:
    id: int
    author_id: int
    nonce: str | None
    content: str
    embed_title: str | None = None


@dataclass(frozen=True)
class RecentThread:
    id: int
    owner_id: int | None
    name: str


class Transport(Protocol):
    """What the sender needs from Discord (one request per call)."""

    @property
    def bot_user_id(self) -> int: ...

    async def open_dm(self, user_id: int) -> int: ...

    async def send(
        self,
        channel_id: int,
        message: OutboxMessage,
        nonce: int,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int: ...

    async def create_forum_post(
        self,
        forum_id: int,
        message: OutboxMessage,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int: ...

    async def recent(self, channel_id: int, limit: int) -> list[RecentMessage]: ...

    async def forum_threads(self, guild_id: int, forum_id: int) -> list[RecentThread]: ...

    def can_send(self, guild_id: int, channel_id: int) -> bool | None: ...


def _files(attachments: Sequence[OutboxAttachment]) -> list[discord.File]:
    return [
        discord.File(io.BytesIO(a.data), filename=a.filename, description=a.description)
        for a in attachments
    ]


def _mentions(message: OutboxMessage) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False,
        roles=[discord.Object(r) for r in message.mention_role_ids],
        users=[discord.Object(u) for u in message.mention_user_ids],
        replied_user=False,
    )


class DiscordTransport:
    """The sender's view of the discord.py client."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    @property
    def bot_user_id(self) -> int:
        return self._client.user.id if self._client.user else 0

    async def open_dm(self, user_id: int) -> int:
        data = await self._client.http.start_private_message(user_id)
        return int(data["id"])

    def _messageable(self, channel_id: int) -> discord.abc.Messageable:
        channel = self._client.get_channel(channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self._client.get_partial_messageable(channel_id)

    async def send(
        self,
        channel_id: int,
        message: OutboxMessage,
        nonce: int,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int:
        kwargs: dict[str, Any] = {
            "content": message.content,
            "embeds": [discord.Embed.from_dict(e) for e in message.embeds],
            "nonce": nonce,  # discord.py adds enforce_nonce=True with it
            "allowed_mentions": _mentions(message),
        }
        if view is not None:
            kwargs["view"] = view
        if attachments:
            kwargs["files"] = _files(attachments)
        sent = await self._messageable(channel_id).send(**kwargs)
        return sent.id

    async def _forum(self, forum_id: int) -> discord.ForumChannel:
        channel = self._client.get_channel(forum_id)
        if channel is None:
            channel = await self._client.fetch_channel(forum_id)
        if not isinstance(channel, discord.ForumChannel):
            raise TypeError(f"channel {forum_id} is not a forum")
        return channel

    async def create_forum_post(
        self,
        forum_id: int,
        message: OutboxMessage,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int:
        forum = await self._forum(forum_id)
        assert message.thread_name is not None
        tags = [t for t in (forum.get_tag(i) for i in message.tag_ids) if t is not None]
        kwargs: dict[str, Any] = {
            "name": message.thread_name,
            "allowed_mentions": _mentions(message),
            "applied_tags": tags,
            "auto_archive_duration": FORUM_ARCHIVE_MINUTES,
        }
        if message.content:
            kwargs["content"] = message.content
        if message.embeds:
            kwargs["embeds"] = [discord.Embed.from_dict(e) for e in message.embeds]
        if view is not None:
            kwargs["view"] = view
        if attachments:
            kwargs["files"] = _files(attachments)
        created = await forum.create_thread(**kwargs)
        return created.thread.id

    async def forum_threads(self, guild_id: int, forum_id: int) -> list[RecentThread]:
        # Raw HTTP, not the cache: reconciliation runs at start, before the guilds arrive.
        data = await self._client.http.get_active_threads(guild_id)
        return [
            RecentThread(int(t["id"]), int(t["owner_id"]) if t.get("owner_id") else None, t["name"])
            for t in data.get("threads", [])
            if int(t.get("parent_id") or 0) == forum_id
        ]

    async def recent(self, channel_id: int, limit: int) -> list[RecentMessage]:
        channel = self._messageable(channel_id)
        out = []
        async for msg in channel.history(limit=limit):
            out.append(
                RecentMessage(
                    msg.id,
                    msg.author.id,
                    None if msg.nonce is None else str(msg.nonce),
                    msg.content,
                    msg.embeds[0].title if msg.embeds else None,
                )
            )
        return out

    def can_send(self, guild_id: int, channel_id: int) -> bool | None:
        guild = self._client.get_guild(guild_id)
        channel = guild.get_channel_or_thread(channel_id) if guild else None
        if guild is None or channel is None:
            return None
        perms = channel.permissions_for(guild.me)
        needed = (
            perms.send_messages_in_threads
            if isinstance(channel, discord.Thread)
            else perms.send_messages
        )
        return bool(perms.view_channel and needed)


# ---------------------------------------------------------------------- the sender


@dataclass(frozen=True)
class SenderConfig:
    rate_per_second: float = 45.0  # below Discord's global 50/s, leaving room for the rest
    burst: float = 10.0
    concurrency: int = 8
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)
    poll_interval: float = 2.0
    reconcile_history: int = 50
    #: longest wait between passes while the database keeps failing (e.g. a full disk)
    max_error_backoff: float = 60.0


class _PauseGuild(Exception):
    def __init__(self, reason: str, channel_id: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.channel_id = channel_id


class OutboxSender:
    """The background task that drains the outbox. ``start()`` / ``stop()``."""

    def __init__(
        self,
        service: OutboxService,
        transport: Transport,
        clock: Clock,
        config: SenderConfig | None = None,
    ) -> None:
        self._service = service
        self._repo = service.repository
        self._dm_channels = service.dm_channels
        self._transport = transport
        self._clock = clock
        self.config = config or SenderConfig()
        self._bucket = TokenBucket(self.config.rate_per_second, self.config.burst)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._requested = 0
        self._completed = 0
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._errors = FailureBackoff(
            log,
            "Outbox sender pass",
            base=self.config.poll_interval,
            cap=max(self.config.poll_interval, self.config.max_error_backoff),
        )
        self._store_errors = FailureBackoff(log, "Recording an outbox send", base=1.0, cap=1.0)
        # A row left 'sending' because the database refused its outcome: settled from the
        # channel's history once the database works again and nothing is in flight.
        self._reconcile_again = False
        #: counters for the benchmark and diagnostics
        self.stats: dict[str, int] = {
            "sent": 0,
            "failed": 0,
            "retried": 0,
            "dm_opened": 0,
            "reconciled_sent": 0,
            "reconciled_resend": 0,
        }

    # ----- lifecycle

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-sender")
            self._service.sender = self

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Stop claiming; let sends in progress finish (up to ``timeout``), release the rest."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            # The loop exits after its current pass; it is only cancelled if it hangs.
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=timeout)
            for task in pending:
                # Interrupted mid-request: the row stays 'sending' and is reconciled at start.
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._service.sender is self:
            self._service.sender = None

    def wake(self) -> None:
        self._wake.set()

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Return once a full pass found nothing due and nothing in flight."""
        if self._task is None or self._task.done():
            raise RuntimeError("the outbox sender is not running")
        self._requested += 1
        wanted = self._requested
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._completed < wanted:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the outbox sender stopped")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("the outbox did not drain in time")
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), min(remaining, 0.5))

    # ----- the loop

    async def _run(self) -> None:
        try:
            await self.reconcile()
        except Exception:
            log.exception("Outbox reconciliation failed; rows left 'sending' stay there")
        while not self._stopping:
            try:
                await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                # e.g. a full disk: one traceback, then quieter and slower retries.
                delay = self._errors.failed()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            else:
                self._errors.succeeded()

    async def _pass(self) -> None:
        if self._reconcile_again and not self._inflight:
            await self.reconcile()
            self._reconcile_again = False
            self._store_errors.succeeded()
        free = self.config.concurrency - len(self._inflight)
        if free <= 0:
            await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
            return
        generation = self._requested
        rows = await self._repo.claim_due(self._clock.now(), free)
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"outbox-row-{row.id}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if rows:
            return
        if self._inflight:
            await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
            return
        self._completed = max(self._completed, generation)
        self._idle.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
        self._wake.clear()

    # ----- one row

    async def _deliver(self, row: OutboxRow) -> None:
        try:
            await self._deliver_once(row)
        except asyncio.CancelledError:
            raise
        except (sqlite3.Error, StoreError):
            # The database refused the outcome (full disk, read-only, locked): the row stays
            # 'sending' and is settled from the channel's history, never marked failed here
            # (the message may well have gone out).
            self._store_errors.failed()
            self._reconcile_again = True
        except Exception as exc:
            # A bug, not Discord: never retry blindly, show it in /course status.
            log.exception("Unexpected error sending outbox row %s (guild %s)", row.id, row.guild_id)
            await self._repo.mark_failed(row.id, f"error: {type(exc).__name__}")
            self.stats["failed"] += 1

    async def _channel_for(self, row: OutboxRow) -> int | None:
        if row.channel_id is not None:
            allowed = self._transport.can_send(row.guild_id, row.channel_id)
            if allowed is False:
                raise _PauseGuild("I'm missing the permission to post", row.channel_id)
            return row.channel_id
        assert row.user_id is not None
        known = await self._dm_channels.dm_channel_id(row.guild_id, row.user_id)
        if known is not None:
            return known
        if self._stopping:
            return None
        await self._bucket.acquire()
        channel_id = await self._transport.open_dm(row.user_id)
        self.stats["dm_opened"] += 1
        # Saved before the send, so a crash after sending can always be reconciled.
        await self._dm_channels.save_dm_channel(row.guild_id, row.user_id, channel_id)
        return channel_id

    async def _deliver_once(self, row: OutboxRow) -> None:
        now = self._clock.now
        try:
            if row.user_id is not None and await self._dm_channels.is_dm_closed(
                row.guild_id, row.user_id
            ):
                # Already known closed: no wasted 403.
                await self._repo.mark_failed(row.id, "dm_closed")
                self.stats["failed"] += 1
                return
            channel_id = await self._channel_for(row)
            if channel_id is None or self._stopping:
                await self._repo.release(row.id, not_before=now(), error=None, count_attempt=False)
                return
            await self._bucket.acquire()
            if self._stopping:
                await self._repo.release(row.id, not_before=now(), error=None, count_attempt=False)
                return
            view = self._service.build_view(row.message)
            # Only channel posts carry files (the digest); DMs skip the look-up.
            files = (
                await self._repo.attachments(row.guild_id, row.id)
                if row.channel_id is not None
                else []
            )
            if row.target == "forum_post":
                message_id = await self._transport.create_forum_post(
                    channel_id, row.message, view, files
                )
            else:
                message_id = await self._transport.send(
                    channel_id, row.message, row.id, view, files
                )
        except _PauseGuild as pause:
            await self._pause(row, pause.reason, pause.channel_id)
            return
        except discord.RateLimited as exc:
            await self._retry_later(row, timedelta(seconds=exc.retry_after), "rate limited")
            return
        except discord.Forbidden as exc:
            await self._forbidden(row, exc)
            return
        except discord.NotFound as exc:
            await self._fail(row, f"not found ({exc.code})")
            return
        except discord.DiscordServerError as exc:
            await self._server_error(row, f"Discord error {exc.status}")
            return
        except discord.HTTPException as exc:
            if exc.status == 429:
                await self._retry_later(row, timedelta(seconds=5), "rate limited")
            elif exc.status >= 500:
                await self._server_error(row, f"Discord error {exc.status}")
            else:
                await self._fail(row, f"refused: {exc.status} code {exc.code}")
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._server_error(row, f"network: {type(exc).__name__}")
            return
        await self._repo.mark_sent(row.id, message_id=message_id, channel_id=channel_id, now=now())
        self.stats["sent"] += 1
        await self._service.notify_sent(row, message_id, channel_id)

    async def _fail(self, row: OutboxRow, error: str) -> None:
        log.warning(
            "Outbox row %s (%s, guild %s) failed: %s", row.id, row.kind, row.guild_id, error
        )
        await self._repo.mark_failed(row.id, error)
        self.stats["failed"] += 1

    async def _retry_later(self, row: OutboxRow, delay: timedelta, error: str) -> None:
        self.stats["retried"] += 1
        await self._repo.release(
            row.id, not_before=self._clock.now() + delay, error=error, count_attempt=False
        )

    async def _server_error(self, row: OutboxRow, error: str) -> None:
        if row.attempts >= self.config.max_attempts:
            await self._fail(row, f"{error} after {row.attempts} attempts")
            return
        self.stats["retried"] += 1
        delay = self.config.backoff * (2 ** (row.attempts - 1))
        await self._repo.release(row.id, not_before=self._clock.now() + delay, error=error)

    async def _forbidden(self, row: OutboxRow, exc: discord.Forbidden) -> None:
        if exc.code == DM_CLOSED_CODE and row.user_id is not None:
            # Never posted about in public: only the mark, for the instructor and the digest.
            await self._repo.mark_failed(row.id, "dm_closed")
            self.stats["failed"] += 1
            if await self._dm_channels.mark_dm_closed(
                row.guild_id, row.user_id, now=self._clock.now()
            ):
                await self._service.notify_dm_closed(row.guild_id, row.user_id)
            return
        if exc.code in MISSING_PERMISSION_CODES:
            reason = "missing access" if exc.code == 50001 else "missing permissions"
            await self._pause(row, f"I'm {reason}", row.channel_id)
            return
        await self._fail(row, f"forbidden (code {exc.code})")

    async def _pause(self, row: OutboxRow, reason: str, channel_id: int | None) -> None:
        # The row waits (not an attempt): it goes out once an instructor resumes sending.
        await self._repo.release(
            row.id, not_before=self._clock.now(), error=reason, count_attempt=False
        )
        if await self._repo.pause(
            row.guild_id, reason=reason, channel_id=channel_id, now=self._clock.now()
        ):
            log.warning(
                "Sending paused for guild %s: %s (channel %s)", row.guild_id, reason, channel_id
            )
        if await self._repo.mark_pause_notified(row.guild_id):
            await self._service.notify_paused(row.guild_id, channel_id, reason)

    # ----- after a restart

    async def reconcile(self) -> None:
        """Settle rows a previous run left in ``sending`` by reading the channel's history."""
        for row in await self._repo.left_sending():
            channel_id = row.channel_id
            if channel_id is None and row.user_id is not None:
                channel_id = await self._dm_channels.dm_channel_id(row.guild_id, row.user_id)
            now = self._clock.now()
            if channel_id is None:
                # The DM channel is saved before any send: this row never reached Discord.
                await self._repo.release(row.id, not_before=now, error=None, count_attempt=False)
                continue
            if row.target == "forum_post":
                found = await self._find_forum_post(row, channel_id)
            else:
                try:
                    await self._bucket.acquire()
                    recent = await self._transport.recent(channel_id, self.config.reconcile_history)
                except discord.HTTPException as exc:
                    # Unknown; resending is covered by enforce_nonce for a few minutes.
                    log.warning("Could not read history to reconcile row %s: %s", row.id, exc)
                    recent = []
                usable = await self._unaccounted(row, [m.id for m in recent])
                found = self._find(row, [m for m in recent if m.id in usable])
            if found is not None:
                await self._repo.mark_sent(row.id, message_id=found, channel_id=channel_id, now=now)
                self.stats["reconciled_sent"] += 1
                await self._service.notify_sent(row, found, channel_id)
            else:
                await self._repo.release(
                    row.id, not_before=now, error="interrupted; not in history", count_attempt=False
                )
                self.stats["reconciled_resend"] += 1

    async def _find_forum_post(self, row: OutboxRow, forum_id: int) -> int | None:
        """The thread this row created before the crash, if any: the bot's own active thread
        in the forum with the row's name that no sent row accounts for (no nonce on forums)."""
        try:
            await self._bucket.acquire()
            threads = await self._transport.forum_threads(row.guild_id, forum_id)
        except discord.HTTPException as exc:
            log.warning("Could not list threads to reconcile row %s: %s", row.id, exc)
            return None
        usable = await self._unaccounted(row, [t.id for t in threads])
        bot_id = self._transport.bot_user_id
        for thread in sorted(threads, key=lambda t: t.id, reverse=True):
            if (
                thread.owner_id == bot_id
                and thread.name == row.message.thread_name
                and thread.id in usable
            ):
                return thread.id
        return None

    async def _unaccounted(self, row: OutboxRow, ids: Sequence[int]) -> set[int]:
        """The message (or thread) ids this row may have created: made after the row was
        claimed (a snowflake holds its creation time), and not already another row's. Without
        this an older message with the same text (last week's check-in, the first of two
        identical reminders) would be taken for the lost one, which is then never sent."""
        if row.claimed_at is None:
            return set()
        earliest = discord.utils.time_snowflake(row.claimed_at - CLAIM_CLOCK_SKEW)
        recent = [i for i in ids if i >= earliest]
        if not recent:
            return set()
        return set(recent) - await self._repo.matched_message_ids(recent)

    def _find(self, row: OutboxRow, recent: list[RecentMessage]) -> int | None:
        bot_id = self._transport.bot_user_id
        for msg in recent:
            if msg.nonce == str(row.id):
                return msg.id
        # History from real Discord may omit the nonce: the same text (or, for a message of
        # embeds only, the same first embed title) from the bot counts.
        title = row.message.embeds[0].get("title") if row.message.embeds else None
        for msg in recent:
            if msg.author_id != bot_id:
                continue
            if row.message.content and msg.content == row.message.content:
                return msg.id
            if not row.message.content and title and msg.embed_title == title:
                return msg.id
        return None
