"""Several processes drain one PostgreSQL outbox: every row is sent exactly once, and the rows
of a process that died are settled (from history first) once their lease has expired.

Each "process" here is its own engine with its own connection pool and its own sender, against
one real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import discord
import pytest

from bot.clock import FakeClock
from bot.outbox.repository import (
    DmChannelRepository,
    NewOutboxRow,
    OutboxAttachment,
    OutboxMessage,
    OutboxRepository,
)
from bot.outbox.sender import MULTI_WRITER_LEASE, Claimant, OutboxSender, SenderConfig
from bot.outbox.service import OutboxService
from bot.outbox.transport import RecentMessage, RecentThread
from bot.store.db import Database
from bot.store.engine import open_database

NOW = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)
BOT = 1
GUILDS = (101, 102, 103)
FAST = SenderConfig(
    rate_per_second=100_000, burst=1_000, poll_interval=0.01, lease=MULTI_WRITER_LEASE
)
_message_ids = itertools.count(1)


def dm_channel(user_id: int) -> int:
    return user_id + 1_000_000


@dataclass
class Discord:
    """What the (fake) Discord received, shared by every process."""

    sent: list[tuple[str, int]] = field(default_factory=list)  # (nonce, channel)
    history: dict[int, list[RecentMessage]] = field(default_factory=dict)

    def post(self, channel_id: int, nonce: str, content: str) -> int:
        message_id = discord.utils.time_snowflake(datetime.now(UTC)) + next(_message_ids)
        self.sent.append((nonce, channel_id))
        self.history.setdefault(channel_id, []).insert(
            0, RecentMessage(message_id, BOT, nonce, content)
        )
        return message_id


@dataclass
class FakeTransport:
    discord: Discord

    @property
    def bot_user_id(self) -> int:
        return BOT

    async def open_dm(self, user_id: int) -> int:
        return dm_channel(user_id)

    async def send(
        self,
        channel_id: int,
        message: OutboxMessage,
        nonce: int,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int:
        return self.discord.post(channel_id, str(nonce), message.content or "")

    async def create_forum_post(
        self,
        forum_id: int,
        message: OutboxMessage,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int:
        raise AssertionError("no forum posts here")

    async def recent(self, channel_id: int, limit: int) -> list[RecentMessage]:
        return self.discord.history.get(channel_id, [])[:limit]

    async def forum_threads(self, guild_id: int, forum_id: int) -> list[RecentThread]:
        return []

    def can_send(self, guild_id: int, channel_id: int) -> bool | None:
        return True


@dataclass
class Process:
    db: Database
    service: OutboxService
    sender: OutboxSender


@pytest.fixture
async def processes(postgres_url: str) -> AsyncIterator[tuple[Discord, list[Process]]]:
    shared = Discord()
    started: list[Process] = []
    try:
        for _ in range(2):
            db = await open_database(postgres_url)
            service = OutboxService(OutboxRepository(db), DmChannelRepository(db), FakeClock(NOW))
            assert service.sender_config.lease == MULTI_WRITER_LEASE  # PostgreSQL: leases
            sender = OutboxSender(service, FakeTransport(shared), FakeClock(NOW), FAST)
            started.append(Process(db, service, sender))
        yield shared, started
    finally:
        for process in started:
            await process.sender.stop()
            await process.db.close()


def dms(count: int, *, tag: str) -> list[NewOutboxRow]:
    return [
        NewOutboxRow(
            guild_id=GUILDS[n % len(GUILDS)],
            kind="test:dm",
            dedupe_key=f"{tag}-{n}",
            message=OutboxMessage(content=f"{tag} {n}"),
            not_before=NOW,
            user_id=5_000 + n,
        )
        for n in range(count)
    ]


async def queue_with_dm_channels(process: Process, rows: list[NewOutboxRow]) -> list[int]:
    """Queue ``rows`` and record each student's DM channel, as a first send would have."""
    ids = await process.service.repository.enqueue_many(rows, now=NOW)
    for row in rows:
        await process.service.dm_channels.save_dm_channel(
            row.guild_id, row.user_id or 0, dm_channel(row.user_id or 0)
        )
    return ids


async def test_two_processes_drain_one_outbox_each_row_once(
    processes: tuple[Discord, list[Process]],
) -> None:
    shared, (first, second) = processes
    ids = await first.service.repository.enqueue_many(dms(400, tag="fan-out"), now=NOW)
    assert None not in ids
    first.sender.start()
    second.sender.start()
    await first.sender.drain(timeout=60)
    await second.sender.drain(timeout=60)
    nonces = [nonce for nonce, _ in shared.sent]
    assert sorted(nonces, key=int) == [str(i) for i in sorted(ids)]  # each once, none lost
    assert first.sender.stats["sent"] + second.sender.stats["sent"] == 400
    counts = await second.service.repository.counts(GUILDS[0])
    assert counts == {"sent": 134}


async def test_a_dead_processs_rows_are_settled_once_after_the_lease(
    processes: tuple[Discord, list[Process]],
) -> None:
    shared, (first, second) = processes
    repo = first.service.repository
    rows = dms(3, tag="crash")
    ids = await queue_with_dm_channels(first, rows)
    # A process claimed all three and died: it had sent the first (Discord has it, with
    # the row's id as nonce) and not the second; the third it claimed only a minute ago.
    dead_at = datetime.now(UTC) - MULTI_WRITER_LEASE - timedelta(minutes=1)
    claimed = await repo.claim_due(NOW, 2, claimed_at=dead_at)
    assert [r.id for r in claimed] == ids[:2]
    shared.post(dm_channel(rows[0].user_id or 0), str(ids[0]), "crash 0")
    recent = await repo.claim_due(NOW, 1, claimed_at=datetime.now(UTC) - timedelta(minutes=1))
    assert [r.id for r in recent] == ids[2:]

    first.sender.start()
    second.sender.start()
    # Twice round: a row one sender settled and released may be in flight in the other when
    # that other's drain returned (its drain waits for its own sends only).
    for _ in range(2):
        await first.sender.drain(timeout=30)
        await second.sender.drain(timeout=30)

    assert [nonce for nonce, _ in shared.sent].count(str(ids[0])) == 1  # found, not resent
    assert [nonce for nonce, _ in shared.sent].count(str(ids[1])) == 1  # resent once
    assert str(ids[2]) not in [nonce for nonce, _ in shared.sent]  # still another's claim
    stats = [p.sender.stats for p in (first, second)]
    assert sum(s["reconciled_sent"] for s in stats) == 1
    assert sum(s["reconciled_resend"] for s in stats) == 1
    states = {r.id: r.state for r in await repo.list_state(GUILDS[2], "sending")}
    assert states == {ids[2]: "sending"}


async def test_a_restarted_member_settles_its_own_claims_at_once_and_no_one_elses(
    processes: tuple[Discord, list[Process]],
) -> None:
    shared, (first, _) = processes
    repo = first.service.repository
    rows = dms(3, tag="restart")
    ids = await queue_with_dm_channels(first, rows)
    # Member 0/2 claimed two rows a minute ago (well inside their 5-minute lease) and was
    # killed: it had sent the first, not the second. Member 1/2, alive, claimed the third.
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    killed, alive = Claimant.new("0/2"), Claimant.new("1/2")
    claimed = await repo.claim_due(NOW, 2, claimed_at=a_minute_ago, claimed_by=killed.label)
    assert [r.id for r in claimed] == ids[:2]
    shared.post(dm_channel(rows[0].user_id or 0), str(ids[0]), "restart 0")
    theirs = await repo.claim_due(NOW, 1, claimed_at=a_minute_ago, claimed_by=alive.label)
    assert [r.id for r in theirs] == ids[2:]

    # Member 0/2 starts again: its first pass settles what its killed run left, at once.
    first.sender = OutboxSender(
        first.service,
        FakeTransport(shared),
        FakeClock(NOW),
        dataclasses.replace(FAST, member="0/2"),
    )
    first.sender.start()
    await first.sender.drain(timeout=30)

    nonces = [nonce for nonce, _ in shared.sent]
    assert nonces.count(str(ids[0])) == 1  # found in history, not resent
    assert nonces.count(str(ids[1])) == 1  # not found: resent once
    assert str(ids[2]) not in nonces  # a live member's send in progress: untouched
    assert first.sender.stats["reconciled_sent"] == 1
    assert first.sender.stats["reconciled_resend"] == 1
    (left,) = await repo.list_state(GUILDS[2], "sending")
    assert (left.id, left.claimed_by) == (ids[2], alive.label)
    assert left.claimed_at == theirs[0].claimed_at
    settled = [await repo.get(r.guild_id, i) for r, i in zip(rows[:2], ids[:2], strict=True)]
    assert [r.state if r else None for r in settled] == ["sent", "sent"]
    # The restarted run took them over under its own name before sending.
    assert {r.claimed_by for r in settled if r} == {first.sender.claimant.label}
