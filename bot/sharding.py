"""Which process owns which guild when the bot runs as several gateway shards.

Discord sends a guild's events to shard ``(guild_id >> 22) % shard_count`` and direct
messages to shard 0. A process running some of the shards owns exactly the guilds of those
shards: it runs their scheduled work. Pure: no discord import, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Direct messages always arrive on shard 0.
DM_SHARD = 0


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends ``guild_id``'s events to."""
    if shard_count < 1:
        raise ValueError("shard_count must be at least 1")
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True)
class ShardPlan:
    """The shards this process runs: ``count`` None means one unsharded connection."""

    count: int | None = None
    ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.count is None:
            if self.ids is not None:
                raise ValueError("shard ids need a shard count")
            return
        if self.count < 1:
            raise ValueError("shard count must be at least 1")
        if self.ids is not None and (
            not self.ids or any(not 0 <= shard < self.count for shard in self.ids)
        ):
            raise ValueError(f"shard ids must be between 0 and {self.count - 1}")

    @property
    def sharded(self) -> bool:
        return self.count is not None

    @property
    def runs(self) -> tuple[int, ...]:
        """The shard ids this process connects."""
        if self.count is None:
            return (0,)
        return self.ids if self.ids is not None else tuple(range(self.count))

    @property
    def partial(self) -> bool:
        """Whether other processes run the rest of the shards (a cluster member)."""
        return self.count is not None and len(set(self.runs)) < self.count

    @property
    def receives_direct_messages(self) -> bool:
        return DM_SHARD in self.runs

    @property
    def budget_share(self) -> float:
        """This process's share of the bot's global request budget.

        Discord's global rate limit is per bot token, across every shard and process. Each
        process of a cluster takes the share of its shards, so the members' rates add up to
        at most the whole budget without talking to each other.
        """
        if self.count is None:
            return 1.0
        return len(set(self.runs)) / self.count

    def owns(self, guild_id: int) -> bool:
        """Whether this process runs the shard of ``guild_id`` (and so its scheduled work)."""
        if self.count is None:
            return True
        return shard_of(guild_id, self.count) in self.runs

    def describe(self) -> str:
        if self.count is None:
            return "one connection (not sharded)"
        ids = ",".join(map(str, self.runs))
        return f"shards {ids} of {self.count}"
