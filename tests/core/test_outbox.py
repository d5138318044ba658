"""The outbox repository: dedupe, one claim per row, retries, expiry and pauses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.outbox.repository import (
    DmChannelRepository,
    OccasionOverride,
    OccasionRepository,
    OutboxAttachment,
    OutboxRepository,
    SendingPause,
)
from bot.outbox.sender import Claimant, TokenBucket
from bot.outbox.service import OutboxService
from bot.store.engine import open_database

NOW = datetime(2026, 9, 9, 14, 0, tzinfo=UTC)
GUILD = 111


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def outbox(store_target: str) -> AsyncIterator[OutboxService]:
    db = await open_database(store_target)
    try:
        yield OutboxService(OutboxRepository(db), DmChannelRepository(db), Clock())
    finally:
        await db.close()


async def test_the_same_dedupe_key_is_queued_once(outbox: OutboxService) -> None:
    first = await outbox.enqueue(
        guild_id=GUILD, kind="nudge:checkin", dedupe_key="k", content="a", user_id=5
    )
    again = await outbox.enqueue(
        guild_id=GUILD, kind="nudge:checkin", dedupe_key="k", content="b", user_id=5
    )
    other_kind = await outbox.enqueue(
        guild_id=GUILD, kind="prompt", dedupe_key="k", content="c", channel_id=9
    )
    other_guild = await outbox.enqueue(
        guild_id=222, kind="nudge:checkin", dedupe_key="k", content="d", user_id=5
    )
    assert first is not None and again is None
    assert other_kind is not None and other_guild is not None
    row = await outbox.lookup(GUILD, "nudge:checkin", "k")
    assert row is not None and row.message.content == "a" and row.state == "pending"


async def test_a_message_needs_one_destination_and_fits_discord(outbox: OutboxService) -> None:
    with pytest.raises(ValueError):
        await outbox.enqueue(guild_id=GUILD, kind="x", dedupe_key="1", content="hi")
    with pytest.raises(ValueError):
        await outbox.enqueue(
            guild_id=GUILD, kind="x", dedupe_key="2", content="hi", user_id=1, channel_id=2
        )
    with pytest.raises(ValueError):
        await outbox.enqueue(
            guild_id=GUILD, kind="x", dedupe_key="3", content="x" * 2001, user_id=1
        )
    with pytest.raises(ValueError):
        await outbox.enqueue(guild_id=GUILD, kind="x", dedupe_key="4", user_id=1)


async def test_concurrent_claims_never_share_a_row(outbox: OutboxService) -> None:
    repo = outbox.repository
    rows = [
        outbox.new_row(guild_id=GUILD, kind="k", dedupe_key=str(i), content=str(i), user_id=i + 1)
        for i in range(40)
    ]
    await outbox.enqueue_rows(rows)
    batches = await asyncio.gather(*(repo.claim_due(NOW, 7) for _ in range(8)))
    claimed = [row.id for batch in batches for row in batch]
    assert len(claimed) == len(set(claimed)) == 40
    assert await repo.claim_due(NOW, 10) == []
    assert (await repo.counts(GUILD)) == {"sending": 40}


async def test_a_claim_records_its_claimant_and_a_take_over_the_taker(
    outbox: OutboxService,
) -> None:
    repo = outbox.repository
    await outbox.enqueue(guild_id=GUILD, kind="k", dedupe_key="1", content="x", user_id=1)
    killed = Claimant.new("0,1/4")
    (row,) = await repo.claim_due(NOW, 10, claimed_by=killed.label)
    assert row.claimed_by == killed.label and killed.label.startswith("0,1/4#")
    restarted = Claimant.new("0,1/4")
    assert await repo.take_over(row, now=NOW, claimed_by=restarted.label)
    assert not await repo.take_over(row, now=NOW, claimed_by="1,2/4#other")  # once only
    (taken,) = await repo.left_sending()
    assert taken.claimed_by == restarted.label


def test_only_another_run_of_the_same_member_is_an_earlier_run_of_mine() -> None:
    me = Claimant("0,1/4", "b")
    assert me.earlier_run_of_mine("0,1/4#a")
    assert not me.earlier_run_of_mine("0,1/4#b")  # this run: perhaps in flight
    assert not me.earlier_run_of_mine("2,3/4#a")  # another member
    assert not me.earlier_run_of_mine("10,1/4#a")
    assert not me.earlier_run_of_mine(None)  # claimed before claims had names
    assert not Claimant(None, "b").earlier_run_of_mine("#a")  # no member name: no guess
    assert Claimant.new("0/1").run != Claimant.new("0/1").run


async def test_not_before_expiry_release_and_pause(outbox: OutboxService) -> None:
    repo = outbox.repository
    later = await outbox.enqueue(
        guild_id=GUILD,
        kind="k",
        dedupe_key="later",
        content="x",
        user_id=1,
        not_before=NOW + timedelta(hours=1),
    )
    stale = await outbox.enqueue(
        guild_id=GUILD,
        kind="k",
        dedupe_key="stale",
        content="x",
        user_id=2,
        not_before=NOW - timedelta(days=2),
        expires_at=NOW - timedelta(days=1),
    )
    assert await repo.claim_due(NOW, 10) == []
    assert (await repo.get(GUILD, stale or 0)).state == "expired"  # type: ignore[union-attr]
    (row,) = await repo.claim_due(NOW + timedelta(hours=1), 10)
    assert row.id == later and row.attempts == 1
    # A rate limit is not an attempt; a server error is.
    await repo.release(
        row.id, not_before=NOW + timedelta(hours=2), error="rate limited", count_attempt=False
    )
    assert (await repo.get(GUILD, row.id)).attempts == 0  # type: ignore[union-attr]
    # A paused guild's rows wait; other guilds go on.
    assert await repo.pause(GUILD, reason="missing permissions", channel_id=9, now=NOW)
    assert not await repo.pause(GUILD, reason="again", channel_id=9, now=NOW)
    other = await outbox.enqueue(guild_id=222, kind="k", dedupe_key="o", content="x", user_id=3)
    claimed = await repo.claim_due(NOW + timedelta(hours=3), 10)
    assert [r.id for r in claimed] == [other]
    assert await repo.mark_pause_notified(GUILD) and not await repo.mark_pause_notified(GUILD)
    assert await outbox.resume(GUILD)
    assert [r.id for r in await repo.claim_due(NOW + timedelta(hours=3), 10)] == [later]


async def test_erasing_a_person_or_a_guild_takes_the_rows_files_too(
    outbox: OutboxService,
) -> None:
    repo = outbox.repository
    chart = (OutboxAttachment("chart.png", b"png"),)
    mine = await outbox.enqueue(
        guild_id=GUILD, kind="k", dedupe_key="dm", content="x", user_id=5, attachments=chart
    )
    post = await outbox.enqueue(
        guild_id=GUILD, kind="k", dedupe_key="post", content="x", channel_id=9, attachments=chart
    )
    kept = await outbox.enqueue(
        guild_id=222, kind="k", dedupe_key="post", content="x", channel_id=9, attachments=chart
    )
    assert mine is not None and post is not None and kept is not None
    assert (await repo.export_user(GUILD, 5))["outbox"][0]["id"] == mine
    await repo.delete_user(GUILD, 5)
    assert await repo.get(GUILD, mine) is None and await repo.attachments(GUILD, mine) == []
    assert await repo.attachments(GUILD, post) != []
    await repo.pause(GUILD, reason="r", channel_id=9, now=NOW)
    await repo.delete_guild(GUILD)
    assert await repo.get(GUILD, post) is None and await repo.attachments(GUILD, post) == []
    assert await repo.paused(GUILD) is None
    assert await repo.attachments(222, kept) != []


async def test_a_pause_and_an_occasion_override_read_back_as_written(store_target: str) -> None:
    db = await open_database(store_target)
    try:
        await _pause_and_override(OutboxRepository(db), OccasionRepository(db))
    finally:
        await db.close()


async def _pause_and_override(repo: OutboxRepository, occasions: OccasionRepository) -> None:
    await repo.pause(GUILD, reason="missing permissions", channel_id=9, now=NOW)
    await repo.mark_pause_notified(GUILD)
    assert await repo.paused(GUILD) == SendingPause(GUILD, "missing permissions", 9, NOW, True)
    await occasions.set(GUILD, "prompt:1", "edit", "New text", updated_by=7, now=NOW)
    later = NOW + timedelta(minutes=1)
    await occasions.set(GUILD, "prompt:1", "skip", None, updated_by=8, now=later)
    assert await occasions.get(GUILD, "prompt:1") == OccasionOverride(
        "prompt:1", "skip", None, 8, later
    )
    assert await occasions.get(GUILD, "prompt:2") is None


async def test_token_bucket_paces_requests() -> None:
    bucket = TokenBucket(rate=200, capacity=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(45):
        await bucket.acquire()
    # 5 at once, then 40 at 200/s: at least 0.2 s.
    assert loop.time() - started >= 0.19
