"""Who is who in a course server: instructors, leads, students. Pure functions over ids."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.guild_model import Cohort, GuildConfig


def is_instructor(
    *, role_ids: Collection[int], manage_guild: bool, config: GuildConfig | None
) -> bool:
    """Manage Server always counts, so a fresh server can be set up by its admins."""
    if manage_guild:
        return True
    return bool(config and config.instructor_role_id and config.instructor_role_id in role_ids)


def is_lead(role_ids: Collection[int], cohorts: Sequence[Cohort]) -> bool:
    return any(c.lead_role_id is not None and c.lead_role_id in role_ids for c in cohorts)


def is_staff(
    *,
    role_ids: Collection[int],
    manage_guild: bool,
    config: GuildConfig | None,
    cohorts: Sequence[Cohort],
) -> bool:
    return is_instructor(role_ids=role_ids, manage_guild=manage_guild, config=config) or is_lead(
        role_ids, cohorts
    )


def student_cohorts(
    *,
    role_ids: Collection[int],
    manage_guild: bool,
    config: GuildConfig | None,
    cohorts: Sequence[Cohort],
) -> list[Cohort]:
    """The cohorts a member studies in; staff are never students."""
    if is_staff(role_ids=role_ids, manage_guild=manage_guild, config=config, cohorts=cohorts):
        return []
    return [c for c in cohorts if c.student_role_id in role_ids]
