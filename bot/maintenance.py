"""Daily operations that are not tied to a course calendar: backups and retention."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.store.db import Database
from bot.store.ledger import LedgerRepository

log = logging.getLogger(__name__)

#: Ledger rows for maintenance use guild 0: they belong to the installation, not a guild.
INSTALLATION = 0
#: The daily retention purge (the privacy feature's): (guilds, people) purged.
Retention = Callable[[datetime], Awaitable[tuple[int, int]]]
BACKUP_PREFIX = "cohortbot-"


@dataclass(eq=False, kw_only=True)
class Maintenance:
    db: Database
    ledger: LedgerRepository
    backup_folder: Path
    backup_keep: int
    _retention: list[Retention] = field(init=False, default_factory=list)

    def register_retention(self, purge: Retention) -> None:
        """The feature that owns retention registers its daily purge when it loads."""
        self._retention.append(purge)

    async def tick(self, now: datetime) -> None:
        """Called on every scheduler wake-up; each job runs at most once per UTC day, and in
        one process at a time (every cluster member's scheduler calls this: on PostgreSQL an
        advisory lock lets one of them in, the others skip this wake-up)."""
        async with self.db.only_one_process("maintenance") as mine:
            if mine:
                await self._run_due(now)

    async def _run_due(self, now: datetime) -> None:
        day = now.date().isoformat()
        # PostgreSQL is backed up with pg_dump by the operator (docs/scaling.md), not by us.
        if (
            self.backup_keep > 0
            and self.db.dialect == "sqlite"
            and await self.ledger.claim(INSTALLATION, 0, "backup", day, now=now)
        ):
            path = await self.backup(now)
            await self.ledger.mark(INSTALLATION, 0, "backup", day, "done", detail=path.name)
        if self._retention and await self.ledger.claim(INSTALLATION, 0, "retention", day, now=now):
            guilds = people = 0
            for purge in self._retention:
                purged_guilds, purged_people = await purge(now)
                guilds += purged_guilds
                people += purged_people
            await self.ledger.mark(
                INSTALLATION,
                0,
                "retention",
                day,
                "done",
                detail=f"{guilds} guilds, {people} people",
            )

    async def backup(self, now: datetime) -> Path:
        self.backup_folder.mkdir(parents=True, exist_ok=True)
        target = self.backup_folder / f"{BACKUP_PREFIX}{now:%Y%m%d-%H%M%S}.db"
        written = await self.db.backup(target)
        self.prune()
        log.info("Automatic backup written to %s", written)
        return written

    def prune(self) -> list[Path]:
        backups = sorted(self.backup_folder.glob(f"{BACKUP_PREFIX}*.db"))
        stale = backups[: max(len(backups) - self.backup_keep, 0)]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale
