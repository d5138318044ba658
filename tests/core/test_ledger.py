"""The schedule ledger: a slot is claimed exactly once, whoever asks and however often."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.store.db import Database
from bot.store.engine import open_database
from bot.store.ledger import LedgerEntry, LedgerRepository

NOW = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


@pytest.fixture
def ledger(db: Database) -> LedgerRepository:
    return LedgerRepository(db)


async def test_the_same_slot_claimed_twice_gives_one_true(ledger: LedgerRepository) -> None:
    assert await ledger.claim(1, 0, "prompt", "2026-11-01", now=NOW) is True
    assert await ledger.claim(1, 0, "prompt", "2026-11-01", now=NOW) is False
    # other guild / cohort / kind / slot are separate claims
    assert await ledger.claim(2, 0, "prompt", "2026-11-01", now=NOW) is True
    assert await ledger.claim(1, 7, "prompt", "2026-11-01", now=NOW) is True
    assert await ledger.claim(1, 0, "digest", "2026-11-01", now=NOW) is True
    assert await ledger.claim(1, 0, "prompt", "2026-11-08", now=NOW) is True


async def test_concurrent_claims_give_exactly_one_true(ledger: LedgerRepository) -> None:
    results = await asyncio.gather(
        *(ledger.claim(1, 0, "prompt", "2026-11-01", now=NOW) for _ in range(25))
    )
    assert results.count(True) == 1


async def test_concurrent_claims_from_two_connections(store_target: str) -> None:
    # On PostgreSQL: two pools, as two processes would have.
    first, second = await open_database(store_target), await open_database(store_target)
    try:
        a, b = LedgerRepository(first), LedgerRepository(second)
        results = await asyncio.gather(
            *(
                repo.claim(1, 0, "nudge", "2026-03-08", now=NOW)
                for _ in range(10)
                for repo in (a, b)
            )
        )
        assert results.count(True) == 1
    finally:
        await first.close()
        await second.close()


async def test_mark_get_and_list(ledger: LedgerRepository) -> None:
    eastern = timezone(timedelta(hours=-4))
    await ledger.claim(1, 0, "prompt", "2026-11-01", now=NOW.astimezone(eastern))
    entry = await ledger.get(1, 0, "prompt", "2026-11-01")
    assert entry == LedgerEntry(1, 0, "prompt", "2026-11-01", "claimed", NOW, None)
    assert entry is not None and entry.claimed_at.tzinfo is UTC

    assert await ledger.mark(1, 0, "prompt", "2026-11-01", "failed", "Forbidden: 50013") is True
    entry = await ledger.get(1, 0, "prompt", "2026-11-01")
    assert entry is not None and (entry.state, entry.detail) == ("failed", "Forbidden: 50013")
    assert await ledger.mark(1, 0, "prompt", "1999-01-01", "done") is False
    assert await ledger.get(1, 0, "prompt", "1999-01-01") is None

    await ledger.claim(1, 0, "digest", "2026-10-25", now=NOW, state="skipped", detail="missed")
    await ledger.claim(2, 0, "digest", "2026-10-25", now=NOW)
    assert [(e.kind, e.slot) for e in await ledger.list_for_guild(1)] == [
        ("digest", "2026-10-25"),
        ("prompt", "2026-11-01"),
    ]
    only = await ledger.list_for_guild(1, kind="digest")
    assert [(e.state, e.detail) for e in only] == [("skipped", "missed")]


async def test_long_details_are_clipped(ledger: LedgerRepository) -> None:
    await ledger.claim(1, 0, "prompt", "s", now=NOW, detail="x" * 5000)
    entry = await ledger.get(1, 0, "prompt", "s")
    assert entry is not None and entry.detail is not None and len(entry.detail) <= 1000


async def test_unknown_state_and_naive_time_are_rejected(ledger: LedgerRepository) -> None:
    with pytest.raises(ValueError):
        await ledger.claim(1, 0, "prompt", "s", now=NOW, state="posted")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await ledger.claim(1, 0, "prompt", "s", now=datetime(2026, 1, 1))
    await ledger.claim(1, 0, "prompt", "s", now=NOW)
    with pytest.raises(ValueError):
        await ledger.mark(1, 0, "prompt", "s", "bogus")  # type: ignore[arg-type]
    assert await ledger.list_for_guild(1) == [
        LedgerEntry(1, 0, "prompt", "s", "claimed", NOW, None)
    ]


async def test_delete_guild_touches_only_that_guild(ledger: LedgerRepository) -> None:
    for guild in (1, 2):
        for slot in ("a", "b"):
            await ledger.claim(guild, 0, "prompt", slot, now=NOW)
    assert await ledger.delete_guild(1) == 2
    assert await ledger.list_for_guild(1) == []
    assert len(await ledger.list_for_guild(2)) == 2
    # a purged guild can claim again
    assert await ledger.claim(1, 0, "prompt", "a", now=NOW) is True


def test_data_contract_declaration() -> None:
    assert LedgerRepository.personal_tables == ()
    assert LedgerRepository.non_personal_tables == ("schedule_ledger",)
