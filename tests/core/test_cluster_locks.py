"""Cluster members on one PostgreSQL database: each shard is connected by one running process
(a session advisory lock per shard, held for the process's life), and the daily maintenance
runs in one process at a time. Each "process" here is its own engine and connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.app import close_app, open_app
from bot.cli import claim_shards, cluster_problem
from bot.client import sender_config
from bot.maintenance import INSTALLATION, Maintenance
from bot.outbox.repository import (
    OUTBOX_NOTIFY_CHANNEL,
    NewOutboxRow,
    OutboxMessage,
    OutboxRepository,
)
from bot.outbox.sender import MULTI_WRITER_LEASE, SenderConfig
from bot.settings import Settings, SettingsError, parse_settings
from bot.sharding import ShardPlan
from bot.store.db import Database
from bot.store.engine import open_database
from bot.store.ledger import LedgerRepository
from bot.store.postgres import PostgresDatabase, ShardsTakenError

NOW = datetime(2026, 9, 7, 3, 0, tzinfo=UTC)


@pytest.fixture
async def two_processes(postgres_url: str) -> AsyncIterator[tuple[PostgresDatabase, ...]]:
    first = await open_database(postgres_url)
    second = await open_database(postgres_url)
    assert isinstance(first, PostgresDatabase) and isinstance(second, PostgresDatabase)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_shard_is_claimed_by_one_running_process(
    two_processes: tuple[PostgresDatabase, ...],
) -> None:
    first, second = two_processes
    mine = await first.claim_shards(2, (0,))
    with pytest.raises(ShardsTakenError) as raised:
        await second.claim_shards(2, (0, 1))
    assert raised.value.taken == (0,)
    assert "shard 0 already runs in another process" in str(raised.value)
    # The refused claim kept nothing: shard 1 is free for the second process.
    theirs = await second.claim_shards(2, (1,))
    assert mine.held and theirs.held
    await mine.release()
    again = await second.claim_shards(2, (0,))
    await again.release()
    await theirs.release()


async def test_a_dead_process_s_shards_are_free_at_once(
    two_processes: tuple[PostgresDatabase, ...],
) -> None:
    first, second = two_processes
    mine = await first.claim_shards(2, (0, 1))
    # The process dies: its session ends without unlocking anything.
    assert mine._conn is not None
    mine._conn.terminate()
    restarted = await second.claim_shards(2, (0, 1))
    await restarted.release()


async def test_another_shard_count_is_refused(two_processes: tuple[PostgresDatabase, ...]) -> None:
    first, second = two_processes
    mine = await first.claim_shards(2, (0,))
    with pytest.raises(ShardsTakenError) as raised:
        await second.claim_shards(4, (3,))
    assert raised.value.other_counts == (2,)
    assert "SHARD_COUNT=2" in str(raised.value)
    await mine.release()


async def test_start_is_refused_with_one_line_naming_shard_ids(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_path=tmp_path / "c.db", database_url=postgres_url, shard_count=2, shard_ids=(1,)
    )
    running = await open_app(settings)
    starting = await open_app(settings)
    try:
        # A partial plan is what a cluster member runs on PostgreSQL.
        assert cluster_problem(running) is None
        claim, problem = await claim_shards(running)
        assert claim is not None and problem is None
        refused, problem = await claim_shards(starting)
        assert refused is None and problem is not None
        assert problem.startswith("SHARD_IDS=1: shard 1 already runs in another process")
        assert "DATABASE_URL" in problem and "\n" not in problem
        assert "postgres:@" not in problem  # the URL is shown without credentials
        await claim.release()
    finally:
        await close_app(starting)
        await close_app(running)


async def test_sqlite_needs_no_claim(tmp_path: Path) -> None:
    app = await open_app(Settings(database_path=tmp_path / "c.db"))
    try:
        assert await claim_shards(app) == (None, None)
    finally:
        await close_app(app)


async def test_an_installation_job_runs_in_one_process_at_a_time(
    two_processes: tuple[PostgresDatabase, ...],
) -> None:
    first, second = two_processes
    async with first.only_one_process("maintenance") as mine:
        assert mine
        async with second.only_one_process("maintenance") as theirs:
            assert not theirs
        async with second.only_one_process("something else") as other:
            assert other
    async with second.only_one_process("maintenance") as theirs:
        assert theirs


async def test_sqlite_always_runs_installation_jobs(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    try:
        async with db.only_one_process("maintenance") as mine:
            assert mine
    finally:
        await db.close()


async def test_maintenance_skips_while_another_process_runs_it(
    two_processes: tuple[PostgresDatabase, ...], tmp_path: Path
) -> None:
    first, second = two_processes
    runs: list[datetime] = []

    async def retention(now: datetime) -> tuple[int, int]:
        runs.append(now)
        return 0, 0

    maintenance = Maintenance(
        db=second, ledger=LedgerRepository(second), backup_folder=tmp_path, backup_keep=0
    )
    maintenance.register_retention(retention)
    async with first.only_one_process("maintenance"):
        await maintenance.tick(NOW)
    assert runs == []
    # Nothing claimed for the day either: the process that holds the lock decides.
    ledger = LedgerRepository(second)
    assert await ledger.get(INSTALLATION, 0, "retention", NOW.date().isoformat()) is None
    await maintenance.tick(NOW)
    assert runs == [NOW]


def test_the_outbox_rate_is_the_whole_bot_s_and_each_member_sends_its_share() -> None:
    settings = parse_settings(
        {"OUTBOX_RATE": "300", "OUTBOX_LEASE_SECONDS": "3", "SHARD_COUNT": "2", "SHARD_IDS": "1"}
    )
    base = SenderConfig(lease=MULTI_WRITER_LEASE)
    member = ShardPlan(2, (1,))
    config = sender_config(base, settings, member)
    assert config.rate_per_second == 150.0
    assert config.lease == timedelta(seconds=3)
    # SQLite (no lease): one process, nothing to take over.
    assert sender_config(SenderConfig(), settings, member).lease is None
    unset = sender_config(base, parse_settings({}), ShardPlan())
    assert (unset.rate_per_second, unset.lease) == (base.rate_per_second, base.lease)
    with pytest.raises(SettingsError):
        parse_settings({"OUTBOX_RATE": "0"})


async def _end_lock_sessions(url: str) -> None:
    """What a server restart does to the locks' connection (and only to it here)."""
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'cohortbot shards'"
        )
    finally:
        await admin.close()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 5 s")


async def test_locks_lost_with_their_connection_are_taken_again(
    two_processes: tuple[PostgresDatabase, ...], postgres_url: str
) -> None:
    first, second = two_processes
    claim = await first.claim_shards(2, (0,))
    lost: list[str] = []
    claim.watch(lost.append, every=0.02)
    try:
        await _end_lock_sessions(postgres_url)
        await _until(lambda: not claim.held)
        await _until(lambda: claim.held)
        with pytest.raises(ShardsTakenError):
            await second.claim_shards(2, (0,))
        assert lost == []
    finally:
        await claim.release()


async def test_a_process_whose_shards_were_taken_meanwhile_is_told(
    two_processes: tuple[PostgresDatabase, ...], postgres_url: str
) -> None:
    first, second = two_processes
    claim = await first.claim_shards(2, (0,))
    lost: list[str] = []
    await _end_lock_sessions(postgres_url)
    await _until(lambda: not claim.held)
    other = await second.claim_shards(2, (0,))  # before the first process looked again
    claim.watch(lost.append, every=0.02)
    try:
        await _until(lambda: bool(lost))
        assert lost == ["shard 0 already runs in another process"]
        assert not claim.held
    finally:
        await claim.release()
        await other.release()


async def test_queued_rows_wake_every_member_s_sender(
    two_processes: tuple[PostgresDatabase, ...], postgres_url: str
) -> None:
    """A member hears at once that another queued rows, also after its locks were renewed."""
    first, second = two_processes
    claim = await first.claim_shards(2, (0,))
    woken: list[int] = []
    await claim.listen(OUTBOX_NOTIFY_CHANNEL, lambda: woken.append(1))
    claim.watch(lambda why: None, every=0.02)
    outbox = OutboxRepository(second)

    def row(key: str) -> NewOutboxRow:
        return NewOutboxRow(
            guild_id=1,
            kind="k",
            dedupe_key=key,
            message=OutboxMessage("hi"),
            not_before=NOW,
            user_id=2,
        )

    try:
        await outbox.enqueue_many([row("a")], now=NOW)
        await _until(lambda: len(woken) == 1)
        await outbox.enqueue_many([row("a")], now=NOW)  # a duplicate queues nothing
        await _end_lock_sessions(postgres_url)
        await _until(lambda: not claim.held)
        await _until(lambda: claim.held)
        await outbox.enqueue_many([row("b")], now=NOW)
        await _until(lambda: len(woken) == 2)
    finally:
        await claim.release()
