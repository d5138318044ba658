"""Students own their data: export it, delete it (and keep it deleted), and retention."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.clock import Clock
from bot.registry import Hooks, personal_repositories
from bot.store.contract import (
    KeepsPastRetention,
    PersonalDataRepository,
    PostsToRedact,
    Redaction,
)
from bot.store.times import export_row
from bot.store.tombstones import TombstoneFile
from cogs.privacy.repository import PrivacyRepository

log = logging.getLogger(__name__)


@runtime_checkable
class PostsAboutUser(Protocol):
    """A repository that knows which of the bot's posts carry a person's words (their intro)."""

    async def posts_about_user(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        """(channel_id, message_id) of bot posts to delete with the person's data."""
        ...


DeletePost = Callable[[int, int], Awaitable[None]]
RedactPost = Callable[[Redaction], Awaitable[None]]


@dataclass(eq=False, kw_only=True)
class PrivacyService:
    repositories: Callable[[], list[object]]
    hooks: Hooks
    privacy: PrivacyRepository
    tombstones: TombstoneFile
    clock: Clock
    retention_days: int
    guild_grace_days: int

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @property
    def guild_grace(self) -> timedelta:
        return timedelta(days=self.guild_grace_days)

    @property
    def repository(self) -> PrivacyRepository:
        return self.privacy

    def _personal(self) -> list[PersonalDataRepository]:
        return personal_repositories(self.repositories())

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, Any]:
        tables: dict[str, list[dict[str, Any]]] = {}
        for repo in self._personal():
            for table, rows in (await repo.export_user(guild_id, user_id)).items():
                # Stored instants are integers; the student reads ISO-8601 text.
                tables.setdefault(table, []).extend(export_row(row) for row in rows)
        return {
            "guild_id": str(guild_id),
            "user_id": str(user_id),
            "exported_at": self.clock.now().isoformat(),
            "tables": tables,
        }

    async def posts_to_delete(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        posts: list[tuple[int, int]] = []
        for repo in self.repositories():
            if isinstance(repo, PostsAboutUser):
                posts.extend(await repo.posts_about_user(guild_id, user_id))
        return posts

    async def posts_to_redact(self, guild_id: int, user_id: int) -> list[Redaction]:
        redactions: list[Redaction] = []
        for repo in self.repositories():
            if isinstance(repo, PostsToRedact):
                redactions.extend(await repo.posts_to_redact(guild_id, user_id))
        return redactions

    async def erase(self, guild_id: int, user_id: int, *, retention: bool = False) -> None:
        """Delete (or anonymise) the person's rows in every repository. On ``retention``, a
        repository that keeps what the person consented to keep (:class:`KeepsPastRetention`)
        purges everything else instead."""
        for flush in self.hooks.before_erase:
            await flush()
        for repo in self._personal():
            if retention and isinstance(repo, KeepsPastRetention):
                await repo.retention_purge(guild_id, user_id)
            else:
                await repo.delete_user(guild_id, user_id)

    async def delete_user(
        self,
        guild_id: int,
        user_id: int,
        *,
        delete_post: DeletePost | None = None,
        redact_post: RedactPost | None = None,
    ) -> None:
        """The student's own request: bot posts first (deleted, or edited where they serve
        others), then rows, then the tombstone. Both lists are read before the rows change."""
        deletions = await self.posts_to_delete(guild_id, user_id)
        redactions = await self.posts_to_redact(guild_id, user_id)
        if delete_post is not None:
            for channel_id, message_id in deletions:
                try:
                    await delete_post(channel_id, message_id)
                except Exception:  # a post already gone must not stop the erasure
                    log.warning("Could not delete post %s in guild %s", message_id, guild_id)
        if redact_post is not None:
            for redaction in redactions:
                try:
                    await redact_post(redaction)
                except Exception:  # likewise: the rows are erased whatever Discord says
                    log.warning(
                        "Could not edit post %s in channel %s of guild %s",
                        redaction.message_id,
                        redaction.channel_id,
                        guild_id,
                    )
        await self.erase(guild_id, user_id)
        user_hash = self.tombstones.add(guild_id, user_id, self.clock.now())
        await self.privacy.mark_tombstone_applied(guild_id, user_hash, self.clock.now())

    async def reapply_tombstones(self) -> int:
        """On start: apply any tombstone this database has not seen (e.g. after a restore)."""
        stones = self.tombstones.tombstones()
        if not stones:
            return 0
        salt = self.tombstones.salt()
        applied = 0
        by_guild: dict[int, set[str]] = {}
        for stone in stones:
            by_guild.setdefault(stone.guild_id, set()).add(stone.user_hash)
        for guild_id, hashes in by_guild.items():
            pending = hashes - await self.privacy.applied_tombstones(guild_id)
            if not pending:
                continue
            for user_id in await self.privacy.people_in(guild_id):
                user_hash = self.tombstones.hash_user(guild_id, user_id, salt)
                if user_hash in pending:
                    await self.erase(guild_id, user_id)
                    applied += 1
            for user_hash in pending:
                await self.privacy.mark_tombstone_applied(guild_id, user_hash, self.clock.now())
        if applied:
            log.info("Re-applied %d deletion(s) from the tombstone file", applied)
        return applied

    async def purge_due(self, now: datetime) -> tuple[int, int]:
        """Retention: guilds removed beyond the grace period, and closed terms beyond N days."""
        guilds = 0
        for guild_id in await self.privacy.removed_before(now - self.guild_grace):
            await self.privacy.purge_guild(guild_id)
            for callback in self.hooks.on_guild_purged:
                callback(guild_id)
            guilds += 1
            log.info("Deleted the data of guild %s (bot removed beyond the grace period)", guild_id)
        people = 0
        for closure in await self.privacy.closures_due(now - self.retention):
            for user_id in await self.privacy.roster(closure):
                await self.erase(closure.guild_id, user_id, retention=True)
                people += 1
            await self.privacy.mark_purged(closure, now)
            log.info(
                "Retention: purged personal data of cohort %s in guild %s",
                closure.cohort_id,
                closure.guild_id,
            )
        return guilds, people

    async def guild_joined(self, guild_id: int) -> None:
        await self.privacy.mark_present(guild_id)

    async def guild_removed(self, guild_id: int) -> None:
        await self.privacy.mark_removed(guild_id, self.clock.now())

    async def term_closed(self, guild_id: int, cohort_id: int, user_ids: list[int]) -> None:
        """Close-term calls this: the roster's personal data is purged after the retention."""
        await self.privacy.record_term_closed(guild_id, cohort_id, self.clock.now(), user_ids)
