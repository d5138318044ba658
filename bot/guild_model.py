"""A server's settings and its cohorts as values (pure: the store reads and writes them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Self, cast


class SettingsRecord:
    """Base of a frozen dataclass of settings (a server's, a cohort's prompts): a command
    changes a few of them with :meth:`with_changes` and the store saves the whole record."""

    def with_changes(self, **changes: Any) -> Self:
        """A copy with ``changes`` (field name to value) applied."""
        return cast(Self, replace(cast(Any, self), **changes))


@dataclass(frozen=True)
class GuildConfig(SettingsRecord):
    guild_id: int
    instructor_role_id: int | None = None
    intro_channel_id: int | None = None
    discussion_channel_id: int | None = None
    coffee_channel_id: int | None = None
    leads_channel_id: int | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Cohort:
    guild_id: int
    cohort_id: int
    name: str
    student_role_id: int
    lead_role_id: int | None
