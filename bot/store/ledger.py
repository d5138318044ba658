"""The schedule ledger: every scheduled send claims its slot here before it sends.

``UNIQUE(guild_id, cohort_id, kind, slot)`` makes a slot postable at most once, whatever
restarts, duplicate ``on_ready`` events or a DST fold do. The ledger holds no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

from bot.store.contract import TablesRepository
from bot.store.rows import Records, row_mapper
from bot.store.times import to_db_time

__all__ = ["LEDGER_STATES", "LedgerEntry", "LedgerRepository", "LedgerState"]

LedgerState = Literal["claimed", "done", "late", "skipped", "failed"]
LEDGER_STATES: Final[frozenset[str]] = frozenset(get_args(LedgerState))
_DETAIL_MAX = 1000


@dataclass(frozen=True)
class LedgerEntry:
    guild_id: int
    cohort_id: int
    kind: str
    slot: str
    state: LedgerState
    claimed_at: datetime
    detail: str | None


def _check_state(state: str) -> None:
    if state not in LEDGER_STATES:
        raise ValueError(f"unknown ledger state {state!r}; expected one of {sorted(LEDGER_STATES)}")


def _clip(detail: str | None) -> str | None:
    if detail is None or len(detail) <= _DETAIL_MAX:
        return detail
    return detail[: _DETAIL_MAX - 1] + "…"


_ENTRIES = Records(
    "schedule_ledger",
    row_mapper(LedgerEntry),
    columns="guild_id, cohort_id, kind, slot, state, claimed_at, detail",
)


class LedgerRepository(TablesRepository):
    """Claims and outcomes of scheduled slots (table ``schedule_ledger``)."""

    non_personal_tables: tuple[str, ...] = ("schedule_ledger",)

    async def claim(
        self,
        guild_id: int,
        cohort_id: int,
        kind: str,
        slot: str,
        *,
        now: datetime,
        state: LedgerState = "claimed",
        detail: str | None = None,
    ) -> bool:
        """Claim a slot. True only for the one caller whose row was inserted."""
        _check_state(state)
        return await self._db.changed(
            "INSERT INTO schedule_ledger (guild_id, cohort_id, kind, slot, state, claimed_at, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, cohort_id, kind, slot) DO NOTHING",
            (guild_id, cohort_id, kind, slot, state, to_db_time(now), _clip(detail)),
        )

    async def mark(
        self,
        guild_id: int,
        cohort_id: int,
        kind: str,
        slot: str,
        state: LedgerState,
        detail: str | None = None,
    ) -> bool:
        """Record the outcome of a claimed slot; False when the slot was never claimed."""
        _check_state(state)
        return await self._db.changed(
            "UPDATE schedule_ledger SET state = ?, detail = ? "
            "WHERE guild_id = ? AND cohort_id = ? AND kind = ? AND slot = ?",
            (state, _clip(detail), guild_id, cohort_id, kind, slot),
        )

    async def get(self, guild_id: int, cohort_id: int, kind: str, slot: str) -> LedgerEntry | None:
        return await _ENTRIES.one(
            self._db,
            "guild_id = ? AND cohort_id = ? AND kind = ? AND slot = ?",
            guild_id,
            cohort_id,
            kind,
            slot,
        )

    async def list_for_guild(self, guild_id: int, kind: str | None = None) -> list[LedgerEntry]:
        """The guild's ledger rows (optionally of one kind), oldest slot first."""
        if kind is None:
            return await _ENTRIES.all(
                self._db, "guild_id = ? ORDER BY slot, cohort_id, kind", guild_id
            )
        return await _ENTRIES.all(
            self._db, "guild_id = ? AND kind = ? ORDER BY slot, cohort_id", guild_id, kind
        )
