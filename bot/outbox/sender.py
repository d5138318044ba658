"""The outbox sender: drains queued rows to Discord, each at most once.

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
* Several processes (PostgreSQL): a claim carries a lease and its claimant's name
  (:class:`Claimant`: the member's shards and a token of this run). A process settles its own
  earlier run's claims at start, and any other process's only once their lease has expired.
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
import logging
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.backoff import FailureBackoff
from bot.clock import Clock
from bot.outbox.repository import OutboxRow
from bot.outbox.transport import RecentMessage, Transport
from bot.store.db import StoreError
from bot.tasks import finish_or_cancel

if TYPE_CHECKING:
    from bot.outbox.service import OutboxService

__all__ = ["Claimant", "OutboxSender", "SenderConfig", "TokenBucket"]

log = logging.getLogger(__name__)

MISSING_PERMISSION_CODES = frozenset({50001, 50013})
DM_CLOSED_CODE = 50007
#: how far this host's clock may be ahead of Discord's when comparing a claim with a message
CLAIM_CLOCK_SKEW = timedelta(seconds=30)


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
    #: With several processes on one database (PostgreSQL): a row claimed longer ago than
    #: this belongs to a process that died, and any live sender settles it (history first,
    #: then a resend). None (one process, SQLite): every row left claimed is settled at start.
    lease: timedelta | None = None
    #: This process's identity in the cluster, the same in each of its runs and held by no
    #: other running process (its shards, e.g. "0,1/4": the shard locks make it unique).
    #: Rows an earlier run of the same member left claimed are settled at start, without
    #: waiting out their lease. None: no such identity (they wait for the lease).
    member: str | None = None


@dataclass(frozen=True)
class Claimant:
    """Who claims outbox rows (their ``claimed_by``): a member and one run of it."""

    member: str | None
    run: str

    @classmethod
    def new(cls, member: str | None) -> Claimant:
        return cls(member, secrets.token_hex(6))

    @property
    def label(self) -> str:
        return f"{self.member or ''}#{self.run}"

    def earlier_run_of_mine(self, claimed_by: str | None) -> bool:
        """Whether ``claimed_by`` is a claim of this member made by another (so, as the
        member's shards are locked by this run, a dead) run of it."""
        if not self.member or claimed_by is None:
            return False
        member, _, run = claimed_by.rpartition("#")
        return member == self.member and run != self.run


#: How long a claim on PostgreSQL protects a row from other processes: far longer than one
#: send takes (rate limits included), short enough that a dead process's rows go out soon.
MULTI_WRITER_LEASE = timedelta(minutes=5)


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
        #: written on every claim; a new one per sender (one per run of the process)
        self.claimant = Claimant.new(self.config.member)
        self._bucket = TokenBucket(self.config.rate_per_second, self.config.burst)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._requested = 0
        self._completed = 0
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        #: one lock per target (channel or DM): its rows go out in the order they were claimed
        self._target_locks: dict[tuple[int | None, int | None], asyncio.Lock] = {}
        self._target_users: dict[tuple[int | None, int | None], int] = {}
        #: rows this process sent (or tried) but could not record: its own claims, settled at
        #: the next reconcile without waiting for their lease to expire
        self._unrecorded: set[int] = set()
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
        self._next_lease_check = time.monotonic()
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
            await finish_or_cancel({self._task}, timeout)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # the loop's own error, if it failed, is the caller's
            self._task = None
        # A send interrupted mid-request leaves its row 'sending', reconciled at start.
        await finish_or_cancel(self._inflight, timeout)
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
        lease = self.config.lease
        if lease is not None and time.monotonic() >= self._next_lease_check:
            # Rows of a process that died: looked for every half lease.
            self._next_lease_check = time.monotonic() + lease.total_seconds() / 2
            await self.reconcile()
        free = self.config.concurrency - len(self._inflight)
        if free <= 0:
            await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
            return
        generation = self._requested
        rows = await self._repo.claim_due(self._clock.now(), free, claimed_by=self.claimant.label)
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
        """Send ``row`` after the rows claimed before it for the same channel or DM: a digest's
        parts must not arrive shuffled. (On SQLite the single database thread happened to keep
        that order; on PostgreSQL each send's look-ups run on their own pooled connection.)"""
        key = (row.channel_id, row.user_id)
        lock = self._target_locks.setdefault(key, asyncio.Lock())
        self._target_users[key] = self._target_users.get(key, 0) + 1
        try:
            async with lock:  # the first await: tasks queue here in the order they were made
                await self._deliver_unordered(row)
        finally:
            self._target_users[key] -= 1
            if not self._target_users[key]:
                del self._target_users[key], self._target_locks[key]

    async def _deliver_unordered(self, row: OutboxRow) -> None:
        try:
            await self._deliver_once(row)
        except asyncio.CancelledError:
            raise
        except (sqlite3.Error, StoreError):
            # The database refused the outcome (full disk, read-only, locked): the row stays
            # 'sending' and is settled from the channel's history, never marked failed here
            # (the message may well have gone out).
            self._store_errors.failed()
            self._unrecorded.add(row.id)
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
                await self._service.notify_dm_undelivered(row)
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
            await self._service.notify_dm_undelivered(row)
            return
        if exc.code in MISSING_PERMISSION_CODES:
            reason = "missing access" if exc.code == 50001 else "missing permissions"
            await self._pause(row, f"I'm {reason}", row.channel_id)
            return
        await self._fail(row, f"forbidden (code {exc.code})")

    async def _pause(self, row: OutboxRow, reason: str, channel_id: int | None) -> None:
        # Paused before the row is released: released first, another pass (on PostgreSQL
        # running at the same time) could claim it again and send it into the same refusal.
        paused = await self._repo.pause(
            row.guild_id, reason=reason, channel_id=channel_id, now=self._clock.now()
        )
        # The row waits (not an attempt): it goes out once an instructor resumes sending.
        await self._repo.release(
            row.id, not_before=self._clock.now(), error=reason, count_attempt=False
        )
        if paused:
            log.warning(
                "Sending paused for guild %s: %s (channel %s)", row.guild_id, reason, channel_id
            )
        if await self._repo.mark_pause_notified(row.guild_id):
            await self._service.notify_paused(row.guild_id, channel_id, reason)

    # ----- after a restart

    async def reconcile(self) -> None:
        """Settle rows a previous run left in ``sending`` by reading the channel's history.

        With a lease (several processes), only rows claimed longer ago than the lease or by an
        earlier run of this member, each taken over first so that exactly one process
        settles it."""
        lease = self.config.lease
        own = set(self._unrecorded)
        rows = await self._repo.left_sending()
        if lease is not None:
            # A younger claim may be another process's send in progress; this process's own
            # claims are settled at once (nobody else is sending them), and so are those of
            # its earlier runs (dead: this run holds the member's shards).
            expired = datetime.now(UTC) - lease
            rows = [
                r
                for r in rows
                if r.id in own
                or self.claimant.earlier_run_of_mine(r.claimed_by)
                or (r.claimed_at is not None and r.claimed_at < expired)
            ]
        for row in rows:
            if lease is not None and not await self._repo.take_over(
                row, now=datetime.now(UTC), claimed_by=self.claimant.label
            ):
                continue
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
        self._unrecorded -= own

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
