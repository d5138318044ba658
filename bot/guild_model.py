"""A server's settings and its cohorts as values (pure: the store reads and writes them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class GuildConfig:
    guild_id: int
    instructor_role_id: int | None = None
    intro_channel_id: int | None = None
    discussion_channel_id: int | None = None
    coffee_channel_id: int | None = None
    leads_channel_id: int | None = None
    timezone: str = "UTC"

    def with_changes(self, **changes: Any) -> GuildConfig:
        return replace(self, **changes)


@dataclass(frozen=True)
class Cohort:
    guild_id: int
    cohort_id: int
    name: str
    student_role_id: int
    lead_role_id: int | None
