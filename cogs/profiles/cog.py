"""/profile set|show|clear and /classmates. Thin: rules in cogs/profiles/rules.py, use cases in
cogs/profiles/service.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.client import CohortBot
from bot.command_kit import FeatureCog, reply_lines
from bot.commands import member_of
from bot.errors import UserFacingError
from bot.schedule_math import is_valid_timezone, search_timezones
from bot.text import quote_input, shorten
from bot.ui import reply
from cogs.introductions import IntroService
from cogs.nudges import NudgeEngine
from cogs.profiles.rules import (
    ATTRIBUTE_LABELS,
    ATTRIBUTES,
    CHOICES,
    CIRCUMSTANCE_BY_KEY,
    CIRCUMSTANCES,
    PREFER_NOT_TO_SAY,
    PREFER_NOT_TO_SAY_LABEL,
    VISIBILITY_LABELS,
    Attribute,
    shared_labels,
    value_label,
)
from cogs.profiles.service import ProfileService

K = TypeVar("K", bound=str)


def _choices(attribute: Attribute) -> list[app_commands.Choice[str]]:
    return [
        *(
            app_commands.Choice(name=label, value=code)
            for code, label in CHOICES[attribute].items()
        ),
        app_commands.Choice(name=PREFER_NOT_TO_SAY_LABEL, value=PREFER_NOT_TO_SAY),
    ]


def _picked(value: str | None, choices: Mapping[K, str], refusal: str) -> K | None:
    """An option's fixed choice, checked (a client can send any text): None when the option
    was left empty, one of ``choices``' keys, or refused with ``refusal``."""
    if value is None:
        return None
    for choice in choices:
        if choice == value:
            return choice
    raise UserFacingError(refusal)


VISIBILITY_CHOICES = [
    app_commands.Choice(name="private — only used for matching (default)", value="private"),
    app_commands.Choice(name="shown to my matches", value="matches"),
    app_commands.Choice(name="findable by classmates", value="classmates"),
]

ATTRIBUTE_CHOICES = [app_commands.Choice(name=ATTRIBUTE_LABELS[a], value=a) for a in ATTRIBUTES]

CIRCUMSTANCE_CHOICES = [app_commands.Choice(name=c.label, value=c.key) for c in CIRCUMSTANCES]


class ProfileTimezone(app_commands.Transformer):
    """An IANA zone from the allowlist, or "prefer not to say"; anything else is refused
    before the command runs (so the old value is kept)."""

    async def transform(self, interaction: discord.Interaction[Any], value: str) -> str:
        value = value.strip()
        if value == PREFER_NOT_TO_SAY or is_valid_timezone(value):
            return value
        raise UserFacingError(
            f"{quote_input(value)} isn't a time zone I can use. Pick a place name such as "
            "America/New_York from the suggestions (abbreviations like EST are ambiguous). "
            "Nothing was changed."
        )

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[app_commands.Choice[str]]:
        zones = [app_commands.Choice(name=tz, value=tz) for tz in search_timezones(value, 24)]
        return [app_commands.Choice(name=PREFER_NOT_TO_SAY_LABEL, value=PREFER_NOT_TO_SAY), *zones]


async def classmate_ids(interaction: discord.Interaction[CohortBot]) -> list[int]:
    """Fellow students of the caller's cohorts (every student, for staff)."""
    member = member_of(interaction)
    app = interaction.client.app
    cohorts = await app.roster.cohorts_of(member)
    if not cohorts and await app.roster.is_staff(member):
        return sorted(await app.roster.all_students(member.guild))
    ids: set[int] = set()
    for cohort in cohorts:
        ids.update(m.id for m in await app.roster.students(member.guild, cohort))
    ids.discard(member.id)
    return sorted(ids)


class ProfilesCog(FeatureCog):
    profile = app_commands.Group(
        name="profile",
        description="Your circumstances, for finding classmates like you (private by default)",
        guild_only=True,
    )

    async def cog_load(self) -> None:
        await super().cog_load()
        # Quiet hours follow each student's own time zone when their profile has one.
        profiles = self.app.services.get(ProfileService)

        async def zones(guild_id: int, user_ids: Sequence[int]) -> dict[int, str]:
            found = await profiles.for_users(guild_id, list(user_ids))
            return {
                user_id: zone
                for user_id, profile in found.items()
                if (zone := profile.matchable("timezone")) is not None
            }

        self.app.services.get(NudgeEngine).set_timezone_source(zones)

    @profile.command(name="set", description="Set parts of your profile (private unless you say)")
    @app_commands.choices(
        availability=_choices("availability"),
        work=_choices("work"),
        caregiving=_choices("caregiving"),
        first_in_family=_choices("first_in_family"),
        prior_courses=_choices("prior_courses"),
        wants=_choices("wants"),
        visibility=VISIBILITY_CHOICES,
    )
    async def set_command(
        self,
        interaction: discord.Interaction[CohortBot],
        timezone: app_commands.Transform[str, ProfileTimezone] | None = None,
        availability: str | None = None,
        work: str | None = None,
        caregiving: str | None = None,
        first_in_family: str | None = None,
        prior_courses: str | None = None,
        wants: str | None = None,
        visibility: str | None = None,
    ) -> None:
        """
        Args:
            timezone: Your time zone (place name, e.g. America/New_York)
            availability: When you usually have time for the course
            work: Work alongside the course
            caregiving: Caregiving alongside the course
            first_in_family: First in your family to go to college?
            prior_courses: Online courses before this one
            wants: What you want from classmates
            visibility: Who may see the items you set now (default: keep; new items are private)
        """
        member = member_of(interaction)
        await self.app.guild_settings.require_config(member.guild.id, member.guild.name)
        given: dict[Attribute, str | None] = {
            "timezone": timezone,
            "availability": availability,
            "work": work,
            "caregiving": caregiving,
            "first_in_family": first_in_family,
            "prior_courses": prior_courses,
            "wants": wants,
        }
        values = {attr: value for attr, value in given.items() if value is not None}
        if not values:
            raise UserFacingError(
                "Pick at least one item to set (for example work:… or caregiving:…). "
                "To change who sees an item, set it again with visibility:…"
            )
        chosen = _picked(
            visibility, VISIBILITY_LABELS, "Please pick one of the visibility choices."
        )
        profile = await self.app.services.get(ProfileService).set(
            member.guild.id, member.id, values, visibility=chosen
        )
        lines = ["Saved. Here is who can see each item you just set:"]
        for attr in values:
            lines.append(
                f"• {ATTRIBUTE_LABELS[attr]}: **{value_label(attr, values[attr])}** — seen by "
                f"{VISIBILITY_LABELS[profile.visibility(attr)]}"
            )
        lines.append("See everything with /profile show.")
        await reply(interaction, "\n".join(lines))

    @profile.command(name="show", description="Your profile and exactly who can see each item")
    async def show_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        profile = await self.app.services.get(ProfileService).get(member.guild.id, member.id)
        embed = discord.Embed(
            title="Your profile (only you see this)", colour=discord.Colour.blurple()
        )
        for attr in ATTRIBUTES:
            value = profile.value(attr) if profile else None
            if value is None:
                embed.add_field(name=ATTRIBUTE_LABELS[attr], value="not set", inline=False)
                continue
            assert profile is not None
            embed.add_field(
                name=ATTRIBUTE_LABELS[attr],
                value=shorten(
                    f"**{value_label(attr, value)}** — seen by "
                    f"{VISIBILITY_LABELS[profile.visibility(attr)]}",
                    1024,
                ),
                inline=False,
            )
        embed.set_footer(
            text=(
                "Every item you set (except “prefer not to say”) helps matching, whoever sees "
                "it. Course staff see only what classmates see. Change: /profile set … "
                "visibility:…  Remove: /profile clear"
            )
        )
        await reply(interaction, embed=embed)

    @profile.command(name="clear", description="Remove one item, or your whole profile")
    @app_commands.choices(item=ATTRIBUTE_CHOICES)
    async def clear_command(
        self, interaction: discord.Interaction[CohortBot], item: str | None = None
    ) -> None:
        """
        Args:
            item: The item to remove (everything if empty)
        """
        member = member_of(interaction)
        attribute = _picked(item, ATTRIBUTE_LABELS, "Please pick one of the profile items.")
        removed = await self.app.services.get(ProfileService).clear(
            member.guild.id, member.id, attribute
        )
        if attribute is None:
            text = "Your profile is cleared." if removed else "Your profile was already empty."
        else:
            label = ATTRIBUTE_LABELS[attribute]
            text = f"Removed {label.lower()}." if removed else f"{label} was not set."
        await reply(interaction, text)

    @app_commands.command(
        name="classmates", description="Find classmates who share your circumstances"
    )
    @app_commands.guild_only()
    @app_commands.choices(circumstance=CIRCUMSTANCE_CHOICES)
    async def classmates_command(
        self, interaction: discord.Interaction[CohortBot], circumstance: str | None = None
    ) -> None:
        """
        Args:
            circumstance: Something you'd like to share (empty: most in common)
        """
        member = member_of(interaction)
        guild = member.guild
        await self.app.guild_settings.require_config(guild.id, guild.name)
        candidates = await classmate_ids(interaction)
        result = await self.app.services.get(ProfileService).classmates(
            guild.id, member.id, candidates, circumstance=circumstance
        )
        if result.problem is not None:
            await reply(interaction, result.problem)
            return
        found = CIRCUMSTANCE_BY_KEY.get(circumstance or "")
        heading = (
            f"Classmates {found.label} who chose to be findable for it:"
            if found
            else "Classmates with the most in common with you (only what they chose to share):"
        )
        profiles = await self.app.services.get(ProfileService).for_users(
            guild.id, [c.user_id for c in result.classmates]
        )
        lines = [heading]
        for classmate in result.classmates:
            other = guild.get_member(classmate.user_id)
            profile = profiles.get(classmate.user_id)
            if other is None or profile is None:
                continue
            intro = await self.app.services.get(IntroService).get(guild.id, classmate.user_id)
            link = (
                f" · [intro]({intro.jump_url})" if intro and intro.jump_url else " · no intro yet"
            )
            shared = "" if found else f" — {', '.join(shared_labels(profile, classmate.shared))}"
            lines.append(f"• {other.display_name}{shared}{link}")
        if len(lines) == 1:
            lines.append(
                "Nobody yet. Classmates appear here when they choose “findable by classmates” "
                "in /profile set — you can too."
            )
        else:
            lines.append("Saying hi under someone's introduction is a great way to start.")
        await reply_lines(interaction, lines)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(ProfilesCog(bot))
