"""The coffee shop: /celebrate, /share, /kudos, /coffee settings, the weekly pulse buttons,
the scheduled coffee-shop question / pulse / milestone roundup, and /course coffee ….

Thin adapter: the rules live in cogs/coffee_shop/rules.py and cogs/coffee_shop/service.py. Every
post is built
as a plain :class:`cogs.coffee_shop.rules.Post` first. Interactive posts (/celebrate, /share,
/kudos) are
sent at once (``send_post``); the scheduled question, pulse and roundup (and ``/course coffee
post``) are queued in the outbox by ``CoffeeService.queue_post`` and delivered by its sender.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

import discord
from discord import app_commands

from bot.client import CohortBot
from bot.command_kit import FeatureCog, answer_saved_schedule, configured_channel
from bot.commands import (
    DAY_CHOICES,
    InstructorGroup,
    TimeOfDay,
    member_of,
)
from bot.errors import UserFacingError
from bot.schedule_math import WEEKDAY_NAMES
from bot.scheduler import ScheduledRun
from bot.store.guilds import GuildConfig
from bot.text import discord_time, shorten
from bot.ui import CohortButton, CohortModal, reply
from cogs.coffee_shop.rules import (
    CELEBRATION_KINDS,
    MILESTONES,
    POST_KIND_LABELS,
    PULSE_CHOICES,
    REACH_OUT,
    REACH_OUT_LABEL,
    SHARE_TEXT_LIMIT,
    Post,
    PostKind,
    kudos_post,
    parse_message_link,
)
from cogs.coffee_shop.service import (
    COFFEE_KINDS,
    KIND_PULSE,
    KIND_QUESTION,
    KIND_ROUNDUP,
    PULSE_VIEW_KEY,
    CoffeeService,
    MilestoneService,
    QueuedPost,
)
from cogs.introductions import IntroService

log = logging.getLogger("cogs.coffee_shop.cog")

WEEKDAYS = WEEKDAY_NAMES
WHAT_CHOICES = [
    app_commands.Choice(name="coffee-shop question", value="question"),
    app_commands.Choice(name="weekly pulse (check-in)", value="pulse"),
    app_commands.Choice(name="milestone roundup", value="roundup"),
]
PULSE_TEMPLATE = (
    r"cohortbot:pulse:(?P<pulse_id>[0-9]{1,19}):(?P<week>[0-9]{8}):(?P<choice>[a-z]{1,12})"
)


# ---------------------------------------------------------------------- sending


def embed_of(post: Post) -> discord.Embed | None:
    if not post.has_embed:
        return None
    embed = discord.Embed(
        title=post.title,
        description=post.description,
        colour=discord.Colour(post.colour) if post.colour is not None else None,
    )
    for name, value in post.fields:
        embed.add_field(name=name, value=value, inline=False)
    if post.footer:
        embed.set_footer(text=post.footer)
    return embed


def mentions_of(post: Post) -> discord.AllowedMentions:
    """Exactly the post's own pings: never anyone mentioned inside user text."""
    if not post.ping_user_ids:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False,
        roles=False,
        replied_user=False,
        users=[discord.Object(id=uid) for uid in post.ping_user_ids],
    )


async def send_post(
    channel: discord.abc.Messageable, post: Post, *, view: discord.ui.View | None = None
) -> discord.Message:
    kwargs: dict[str, Any] = {"allowed_mentions": mentions_of(post)}
    if post.content:
        kwargs["content"] = post.content
    embed = embed_of(post)
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    message = await channel.send(**kwargs)
    for emoji in post.reactions:
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException as error:
            log.warning("Could not add reaction %s in %s: %s", emoji, message.channel.id, error)
    return message


# ---------------------------------------------------------------------- pulse buttons


PULSE_STYLES = {
    "great": discord.ButtonStyle.success,
    "okay": discord.ButtonStyle.secondary,
    "struggling": discord.ButtonStyle.secondary,
    "hard": discord.ButtonStyle.secondary,
    REACH_OUT: discord.ButtonStyle.primary,
}
PULSE_BUTTON_LABELS = {**dict(PULSE_CHOICES), REACH_OUT: REACH_OUT_LABEL}


class PulseButton(CohortButton, template=PULSE_TEMPLATE):
    """One answer of a weekly pulse. Persistent; the custom_id carries the pulse and its week
    but is only a lookup key: the click is checked against the stored pulse."""

    where = "button pulse"

    def __init__(self, pulse_id: int, week: str, choice: str) -> None:
        self.pulse_id = pulse_id
        self.week = week
        self.choice = choice
        super().__init__(
            label=PULSE_BUTTON_LABELS.get(choice, choice),
            style=PULSE_STYLES.get(choice, discord.ButtonStyle.secondary),
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        cog = interaction.client.get_cog("CoffeeCog")
        if not isinstance(cog, CoffeeCog):
            raise UserFacingError("The coffee shop is not available right now.")
        await cog.pulse_clicked(interaction, self.pulse_id, self.week, self.choice)


def pulse_view(pulse_id: int, week: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for choice, _ in PULSE_CHOICES:
        view.add_item(PulseButton(pulse_id, week, choice))
    view.add_item(PulseButton(pulse_id, week, REACH_OUT))
    return view


def pulse_view_from_args(args: tuple[str, ...]) -> discord.ui.View:
    """The outbox's factory for ``coffee:pulse`` rows: args are (pulse id, week)."""
    pulse_id, week = args
    return pulse_view(int(pulse_id), week)


QUEUE_ANSWERS = {
    "empty": "Nothing to post in {channel} right now for the {what}.",
    "already_posted": "The {what} was just posted in {channel}; nothing new was queued.",
    "pulse_posted": "This week's check-in is already posted; a new one can go up next week.",
}


# ---------------------------------------------------------------------- modals


class ShareModal(CohortModal):
    def __init__(self, cog: CoffeeCog, kind: PostKind, anonymous: bool) -> None:
        celebrating = kind in CELEBRATION_KINDS
        super().__init__(
            title="Celebrate a win" if celebrating else f"Share a {POST_KIND_LABELS[kind]}"
        )
        self.cog = cog
        self.kind = kind
        self.anonymous = anonymous
        self.text: discord.ui.TextInput[ShareModal] = discord.ui.TextInput(
            label="What happened?" if celebrating else "What would you like to share?",
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=SHARE_TEXT_LIMIT,
            placeholder=(
                "Finished my first project, got the job, ran 5k…"
                if celebrating
                else "A few words are plenty."
            ),
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self.cog.post_share(interaction, self.kind, self.text.value, self.anonymous)


# ---------------------------------------------------------------------- /course coffee


class CourseCoffeeGroup(
    InstructorGroup, name="coffee", description="Coffee shop: schedules, limits, posts"
):
    """/course coffee …: schedules, limits, unnamed-post authors, completion."""

    def __init__(self, cog: CoffeeCog) -> None:
        super().__init__()
        self.cog = cog

    @app_commands.command(name="schedule", description="Schedule a weekly coffee-shop post")
    @app_commands.choices(what=WHAT_CHOICES)
    @app_commands.choices(day=DAY_CHOICES)
    async def schedule_command(
        self,
        interaction: discord.Interaction[CohortBot],
        what: app_commands.Choice[str],
        day: app_commands.Choice[int],
        time: TimeOfDay,
    ) -> None:
        """
        Args:
            what: Which post
            day: Day of the week
            time: Time in the course time zone, HH:MM
        """
        guild = member_of(interaction).guild
        schedule = await interaction.client.app.services.get(CoffeeService).set_schedule(
            guild.id, COFFEE_KINDS[what.value], day.value, time
        )
        await answer_saved_schedule(interaction, schedule, f"Scheduled the {what.name}")

    @app_commands.command(name="unschedule", description="Stop a weekly coffee-shop post")
    @app_commands.choices(what=WHAT_CHOICES)
    async def unschedule_command(
        self, interaction: discord.Interaction[CohortBot], what: app_commands.Choice[str]
    ) -> None:
        guild = member_of(interaction).guild
        app = interaction.client.app
        removed = await app.services.get(CoffeeService).remove_schedule(
            guild.id, COFFEE_KINDS[what.value]
        )
        await app.scheduler.rebuild()
        await reply(
            interaction,
            f"The {what.name} is no longer scheduled."
            if removed
            else f"The {what.name} wasn't scheduled.",
        )

    @app_commands.command(
        name="upcoming", description="The coffee shop's schedule and next question"
    )
    async def upcoming_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = member_of(interaction).guild
        app = interaction.client.app
        lines = ["**Coffee shop — coming up**"]
        for what, when in await app.services.get(CoffeeService).upcoming(guild.id):
            lines.append(f"• {what}: {discord_time(when)} ({discord_time(when, 'R')})")
        if len(lines) == 1:
            lines.append("Nothing scheduled yet: use /course coffee schedule.")
        _, question = await app.services.get(CoffeeService).next_question(guild.id)
        lines.append(f"Next coffee-shop question: “{question}”")
        await reply(interaction, shorten("\n".join(lines), 2000))

    @app_commands.command(name="post", description="Post a coffee-shop item now")
    @app_commands.choices(what=WHAT_CHOICES)
    async def post_command(
        self, interaction: discord.Interaction[CohortBot], what: app_commands.Choice[str]
    ) -> None:
        """
        Args:
            what: Which post
        """
        guild = member_of(interaction).guild
        app = interaction.client.app
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = await self.cog.coffee_channel(guild)
        # The roundup counts up to and including this second.
        end = app.clock.now() + timedelta(seconds=1)
        queued = await self.cog.post_scheduled(guild, COFFEE_KINDS[what.value], slot=None, end=end)
        if queued.row_id is None:
            status: str = queued.status
            if status == "already_posted" and what.value == "pulse":
                status = "pulse_posted"
            text = QUEUE_ANSWERS.get(status, QUEUE_ANSWERS["empty"])
            await reply(interaction, text.format(channel=channel.mention, what=what.name))
            return
        (row,) = await app.outbox.wait_settled(guild.id, [queued.row_id])
        if row.state == "sent" and row.message_id is not None:
            link = f"https://discord.com/channels/{guild.id}/{channel.id}/{row.message_id}"
            await reply(interaction, f"Posted the {what.name}: {link}")
        elif row.state in ("pending", "sending"):
            await reply(
                interaction,
                f"The {what.name} is queued for {channel.mention}; it goes out as soon as "
                "Discord lets me (see /course status).",
            )
        else:
            await reply(
                interaction,
                f"The {what.name} could not be posted ({row.last_error}); see /course status.",
            )

    @app_commands.command(name="limits", description="Kudos per day and circle thread size")
    async def limits_command(
        self,
        interaction: discord.Interaction[CohortBot],
        kudos_per_day: int | None = None,
        circle_size: int | None = None,
    ) -> None:
        """
        Args:
            kudos_per_day: Kudos one student may give in 24 hours (1–50)
            circle_size: Members per circle thread before a second thread opens (2–1000)
        """
        guild = member_of(interaction).guild
        config = await interaction.client.app.services.get(CoffeeService).set_limits(
            guild.id, kudos_per_day=kudos_per_day, circle_size=circle_size
        )
        await reply(
            interaction,
            f"Coffee-shop limits: {config.kudos_per_day} kudos per student per 24 hours; "
            f"{config.circle_size} members per circle thread.",
        )

    @app_commands.command(name="author", description="Who wrote a post shared without a name")
    async def author_command(
        self, interaction: discord.Interaction[CohortBot], message_link: str
    ) -> None:
        """
        Args:
            message_link: The post's link (right-click → Copy Message Link)
        """
        member = member_of(interaction)
        parsed = parse_message_link(message_link)
        if parsed is None or parsed[0] != member.guild.id:
            raise UserFacingError(
                "That isn't a message link from this server. Right-click the post → "
                "Copy Message Link, and paste it here."
            )
        post = await interaction.client.app.services.get(CoffeeService).author_of(
            member.guild.id, parsed[2]
        )
        if post.author_id is None:
            await reply(
                interaction, "The author of that post erased their data; it can't be looked up."
            )
            return
        log.info(
            "Instructor %s looked up the author of coffee post %s (guild %s)",
            member.id,
            post.post_id,
            member.guild.id,
        )
        author = member.guild.get_member(post.author_id)
        name = author.display_name if author else "a former member"
        named = "was posted without a name" if post.anonymous else "shows its author"
        await reply(
            interaction,
            f"That post {named}. It was written by <@{post.author_id}> ({name}). "
            "Please keep this private: students were told only instructors can see it.",
        )

    @app_commands.command(name="completed", description="Mark that a student completed the course")
    async def completed_command(
        self, interaction: discord.Interaction[CohortBot], member: discord.Member
    ) -> None:
        """
        Args:
            member: The student who completed the course
        """
        guild = member_of(interaction).guild
        app = interaction.client.app
        if member.bot:
            raise UserFacingError("Bots don't take courses. Nothing was recorded.")
        first = await app.services.get(MilestoneService).reached(
            guild.id, member.id, "course_completed"
        )
        await reply(
            interaction,
            f"Recorded: {member.display_name} completed the course. 🎓"
            if first
            else f"{member.display_name} was already marked as having completed the course.",
        )


# ---------------------------------------------------------------------- the cog


class CoffeeCog(FeatureCog):
    coffee = app_commands.Group(
        name="coffee", description="Your coffee-shop settings", guild_only=True
    )

    buttons = (PulseButton,)
    outbox_views = ((PULSE_VIEW_KEY, pulse_view_from_args),)

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.course_group = CourseCoffeeGroup(self)
        self._message_filters = (self.filter_message,)
        self._inline = (
            ("raw_reaction_add", self.filter_reaction),
            ("raw_reaction_remove", self.filter_reaction_remove),
        )

    async def cog_load(self) -> None:
        await super().cog_load()
        self.app.services.get(CoffeeService).attach_course_clock(
            outbox=self.app.outbox, calendar=self.app.calendar, overrides=self.app.upcoming
        )
        self.app.services.get(MilestoneService).attach_notifier(self, self.app.outbox)
        for kind in (KIND_QUESTION, KIND_PULSE, KIND_ROUNDUP):
            self.app.scheduler.register_kind(kind, self.run_scheduled)
        # /course upcoming lists the coffee shop's scheduled posts.
        self.app.upcoming.register("coffee", self.app.services.get(CoffeeService).upcoming_items)

    async def cog_unload(self) -> None:
        await super().cog_unload()
        self.app.services.get(CoffeeService).attach_course_clock(
            outbox=None, calendar=None, overrides=None
        )
        self.app.services.get(MilestoneService).attach_notifier(None)

    # ----- shared helpers ----------------------------------------------------------------

    async def coffee_channel(self, guild: discord.Guild) -> discord.TextChannel:
        return await configured_channel(
            self.app.guild_settings,
            guild,
            lambda config: config.coffee_channel_id,
            "The coffee-shop channel isn't set up. An instructor can pick one with "
            "/course setup coffee_shop:#channel.",
        )

    async def leads_channel(self, guild: discord.Guild, what: str) -> discord.TextChannel | None:
        """The leads channel only while it is private to staff (these notes name students);
        otherwise None, after a warning in the log (/course status shows it red)."""
        return await self.app.guild_settings.leads_channel_or_warn(guild, what)

    async def cohort_id_of(self, member: discord.Member) -> int:
        cohorts = await self.app.roster.cohorts_of(member)
        return cohorts[0].cohort_id if cohorts else 0

    # MilestoneNotifier
    async def cohort_of(self, guild_id: int, user_id: int) -> int:
        guild = self.bot.get_guild(guild_id)
        member = guild.get_member(user_id) if guild else None
        return await self.cohort_id_of(member) if member else 0

    # ----- /celebrate and /share ---------------------------------------------------------

    @app_commands.command(name="celebrate", description="Celebrate a win in the coffee shop")
    @app_commands.guild_only()
    async def celebrate_command(
        self,
        interaction: discord.Interaction[CohortBot],
        kind: Literal["course win", "personal win"] = "course win",
    ) -> None:
        """
        Args:
            kind: A win in the course, or in the rest of your life
        """
        member = member_of(interaction)
        await self.coffee_channel(member.guild)  # a clear message before the form
        post_kind: PostKind = "course_win" if kind == "course win" else "personal_win"
        await interaction.response.send_modal(ShareModal(self, post_kind, False))

    @app_commands.command(name="share", description="Share a life update or a rough week")
    @app_commands.guild_only()
    async def share_command(
        self,
        interaction: discord.Interaction[CohortBot],
        kind: Literal["life update", "rough week"],
        without_my_name: bool = False,
    ) -> None:
        """
        Args:
            kind: A life update, or a week that is hard
            without_my_name: Post it without your name (only instructors can look up who wrote it)
        """
        member = member_of(interaction)
        await self.coffee_channel(member.guild)
        post_kind: PostKind = "rough_week" if kind == "rough week" else "life_update"
        await interaction.response.send_modal(ShareModal(self, post_kind, without_my_name))

    async def post_share(
        self, interaction: discord.Interaction[Any], kind: PostKind, text: str, anonymous: bool
    ) -> None:
        member = member_of(interaction)
        guild = member.guild
        channel = await self.coffee_channel(guild)
        post = await self.app.services.get(CoffeeService).build_share(
            guild.id,
            kind=kind,
            text=text,
            author_name=member.display_name,
            author_mention=member.mention,
            anonymous=anonymous,
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = await send_post(channel, post)
        anonymous = anonymous and kind not in CELEBRATION_KINDS
        await self.app.services.get(CoffeeService).record_post(
            guild_id=guild.id,
            cohort_id=await self.cohort_id_of(member),
            author_id=member.id,
            kind=kind,
            anonymous=anonymous,
            channel_id=channel.id,
            message_id=message.id,
        )
        leads_told = False
        if kind == "rough_week":
            leads_told = await self._tell_leads_rough_week(guild, message, member, anonymous)
        if kind in CELEBRATION_KINDS:
            answer = f"🎉 Posted your celebration in {channel.mention}: {message.jump_url}"
        elif anonymous:
            answer = (
                f"Posted in {channel.mention} without your name: {message.jump_url}\n"
                "Classmates and leads don't see who wrote it; only instructors can look it up."
            )
        else:
            answer = f"Posted in {channel.mention}: {message.jump_url}"
        if kind == "rough_week" and leads_told:
            answer += (
                "\nThank you for sharing. The course leads were told privately, so someone may "
                "check in."
            )
        elif kind == "rough_week":
            answer += "\nThank you for sharing."
        await reply(interaction, answer)

    async def _tell_leads_rough_week(
        self,
        guild: discord.Guild,
        message: discord.Message,
        member: discord.Member,
        anonymous: bool,
    ) -> bool:
        leads = await self.leads_channel(guild, "A rough-week notice")
        if leads is None:
            return False
        author = "posted without a name" if anonymous else f"shared by {member.mention}"
        text = await self.app.templates.render(
            guild.id, "coffee_rough_week_leads", link=message.jump_url, author=author
        )
        try:
            await leads.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.warning(
                "Could not tell the leads about a rough week (guild %s): %s", guild.id, error
            )
            return False
        return True

    # ----- /kudos ------------------------------------------------------------------------

    @app_commands.command(name="kudos", description="Thank a classmate in the coffee shop")
    @app_commands.guild_only()
    async def kudos_command(
        self,
        interaction: discord.Interaction[CohortBot],
        member: discord.Member | discord.User,
        reason: str,
    ) -> None:
        """
        Args:
            member: Who you're thanking
            reason: What you're thanking them for
        """
        giver = member_of(interaction)
        guild = giver.guild
        if not isinstance(member, discord.Member) or guild.get_member(member.id) is None:
            raise UserFacingError(
                f"{member.display_name} isn't a member of this server, so they can't get "
                "kudos here."
            )
        if member.id == giver.id:
            raise UserFacingError("Kudos are for thanking someone else — not yourself. 🙂")
        if member.bot:
            raise UserFacingError("Bots don't need kudos; thank a classmate instead.")
        cleaned = self.app.services.get(CoffeeService).clean_kudos_reason(reason)
        channel = await self.coffee_channel(guild)
        await self.app.services.get(CoffeeService).check_kudos_allowed(guild.id, giver.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        post = kudos_post(
            giver_name=giver.display_name,
            receiver_id=member.id,
            receiver_name=member.display_name,
            reason=cleaned,
        )
        message = await send_post(channel, post)
        # Counted in the receiver's cohort (staff givers have none); thanks to staff stay in
        # the giver's cohort.
        cohort_id = await self.cohort_id_of(member) or await self.cohort_id_of(giver)
        await self.app.services.get(CoffeeService).record_kudos(
            guild_id=guild.id,
            cohort_id=cohort_id,
            giver_id=giver.id,
            receiver_id=member.id,
            reason=cleaned,
            message_id=message.id,
            channel_id=channel.id,
        )
        await reply(
            interaction, f"🙏 Your kudos to {member.display_name} is up: {message.jump_url}"
        )

    # ----- /coffee settings --------------------------------------------------------------

    @coffee.command(
        name="settings", description="Private milestone notes (off unless you turn them on)"
    )
    async def settings_command(
        self, interaction: discord.Interaction[CohortBot], milestones: bool | None = None
    ) -> None:
        """
        Args:
            milestones: Get a private note (a DM) when you reach a course milestone
        """
        member = member_of(interaction)
        guild_id = member.guild.id
        if milestones is not None:
            await self.app.services.get(CoffeeService).set_milestones(
                guild_id, member.id, milestones
            )
        on = await self.app.services.get(CoffeeService).milestones_on(guild_id, member.id)
        state = (
            "**on** — I'll send you a private note (a DM) when you reach a milestone"
            if on
            else "**off** — no notes (turn them on with /coffee settings milestones:True)"
        )
        lines = [
            ("Saved. " if milestones is not None else "") + f"Milestone notes are {state}.",
            "Milestones: " + "; ".join(MILESTONES.values()) + ".",
            "The weekly roundup in the coffee shop only counts milestones; it never names anyone.",
        ]
        if on:
            lines.append("If your DMs from server members are closed, the notes are skipped.")
        await reply(interaction, "\n".join(lines))

    # ----- the pulse ---------------------------------------------------------------------

    async def pulse_clicked(
        self, interaction: discord.Interaction[Any], pulse_id: int, week: str, choice: str
    ) -> None:
        member = member_of(interaction)
        guild = member.guild
        await self.app.services.get(CoffeeService).check_pulse(guild.id, pulse_id, week)
        cohorts = await self.app.roster.cohorts_of(member)
        if not cohorts:
            raise UserFacingError("The weekly check-in is for the course's students.")
        result = await self.app.services.get(CoffeeService).answer_pulse(
            guild.id,
            pulse_id,
            week,
            member.id,
            cohort_id=cohorts[0].cohort_id,
            choice=choice,
        )
        if result.reach_out:
            if not result.recorded:
                await reply(
                    interaction,
                    "You already asked this week — the course leads know, and someone will be "
                    "in touch. Thank you.",
                )
                return
            await self._tell_leads_reach_out(guild, member)
            await reply(
                interaction, await self.app.templates.render(guild.id, "coffee_reach_out_confirm")
            )
            return
        if not result.recorded:
            await reply(
                interaction,
                "You already answered this week's check-in — answers are final for the week. "
                "Thank you!",
            )
            return
        await reply(
            interaction,
            "Thank you — your answer was recorded anonymously (only the totals are kept). "
            "If you'd like someone to check in with you, press “Please reach out to me”.",
        )

    async def _tell_leads_reach_out(self, guild: discord.Guild, member: discord.Member) -> None:
        # Recorded either way: the digest lists it once the leads channel is private.
        leads = await self.leads_channel(guild, "A reach-out request")
        if leads is None:
            return
        text = await self.app.templates.render(
            guild.id, "coffee_reach_out_leads", member=f"{member.mention} ({member.display_name})"
        )
        try:
            await leads.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.warning(
                "Could not tell the leads about a reach-out (guild %s): %s", guild.id, error
            )

    # ----- scheduled posts ---------------------------------------------------------------

    async def run_scheduled(self, run: ScheduledRun) -> None:
        guild = self.bot.get_guild(run.guild_id)
        if guild is None:
            log.warning("Scheduled %s for unknown guild %s skipped", run.kind, run.guild_id)
            return
        try:
            queued = await self.post_scheduled(guild, run.kind, slot=run.slot, end=run.occurrence)
        except UserFacingError as error:
            # e.g. the coffee shop channel was removed: nothing to post into.
            log.warning(
                "Scheduled %s in guild %s not posted: %s", run.kind, guild.id, error.message
            )
            return
        if queued.row_id is None:
            log.info(
                "Scheduled %s in guild %s not queued: %s %s",
                run.kind,
                guild.id,
                queued.status,
                queued.detail,
            )

    async def post_scheduled(
        self, guild: discord.Guild, kind: str, *, slot: str | None, end: datetime
    ) -> QueuedPost:
        """Queue one coffee-shop post of ``kind`` in the outbox (its sender posts it)."""
        if kind not in (KIND_QUESTION, KIND_PULSE, KIND_ROUNDUP):
            raise ValueError(f"not a coffee-shop kind: {kind}")
        channel = await self.coffee_channel(guild)
        welcome = None
        if kind == KIND_QUESTION:
            welcome = await self.app.services.get(IntroService).newest_unwelcomed_line(
                guild.id, self.app.clock.now()
            )
        return await self.app.services.get(CoffeeService).queue_post(
            guild.id, kind, channel_id=channel.id, slot=slot, end=end, welcome_line=welcome
        )

    # ----- counting classmates' responses to celebrations --------------------------------

    # Celebrations are the bot's own posts (send_post), so a reply or reaction to anyone
    # else's message cannot count: the inline pre-filters below decide that from the event and
    # the cached settings, without a task or a database read per coffee-shop message.

    def _not_now(self, guild_id: int, channel_id: int, retry: Callable[[], None]) -> bool:
        """True when the event is not for the handlers now: the cached settings show
        ``channel_id`` is not the coffee shop, or they are not cached yet — then ``retry``
        runs once one load of them has finished."""
        known, config = self.bot.config_or_park(guild_id, retry)
        return not known or config is None or channel_id != config.coffee_channel_id

    def _not_by_me(self, author_id: int | None) -> bool:
        me = self.bot.user
        return author_id is not None and me is not None and author_id != me.id

    def filter_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or payload.user_id == getattr(self.bot.user, "id", None):
            return
        if payload.member is not None and payload.member.bot:
            return
        if self._not_now(
            payload.guild_id, payload.channel_id, partial(self.filter_reaction, payload)
        ):
            return
        if self._not_by_me(payload.message_author_id):
            return
        self.bot.run_handler("raw_reaction_add", self.handle_reaction, payload)

    async def _in_coffee_shop(self, guild_id: int, channel_id: int) -> bool:
        """The handlers' check, from the settings (loaded when not cached)."""
        config = await self.app.guild_settings.config(guild_id)
        return config is not None and channel_id == config.coffee_channel_id

    async def handle_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        assert payload.guild_id is not None
        if not await self._in_coffee_shop(payload.guild_id, payload.channel_id):
            return
        member = payload.member
        # Classmates only: staff reactions are not what the digest's number means.
        if member is None or not await self.app.roster.cohorts_of(member):
            return
        await self.app.services.get(CoffeeService).celebration_reaction(
            payload.guild_id, payload.message_id, payload.user_id, str(payload.emoji), added=True
        )

    def filter_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        # No author on a removal event: the handler's lookup decides (a read, no write, for
        # reactions that were never counted).
        if payload.guild_id is None or payload.user_id == getattr(self.bot.user, "id", None):
            return
        retry = partial(self.filter_reaction_remove, payload)
        if self._not_now(payload.guild_id, payload.channel_id, retry):
            return
        self.bot.run_handler("raw_reaction_remove", self.handle_reaction_remove, payload)

    async def handle_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        assert payload.guild_id is not None
        if not await self._in_coffee_shop(payload.guild_id, payload.channel_id):
            return
        await self.app.services.get(CoffeeService).celebration_reaction(
            payload.guild_id, payload.message_id, payload.user_id, str(payload.emoji), added=False
        )

    def filter_message(self, message: discord.Message, config: GuildConfig | None) -> None:
        # A message filter (CohortBot.add_message_filter): only a reply in the coffee shop.
        if (
            message.reference is None
            or config is None
            or message.channel.id != config.coffee_channel_id
        ):
            return
        replied_to = message.reference.resolved
        if isinstance(replied_to, discord.Message) and self._not_by_me(replied_to.author.id):
            return
        self.bot.run_handler("message", self.handle_message, message)

    async def handle_message(self, message: discord.Message) -> None:
        assert message.guild is not None and message.reference is not None
        config = await self.app.guild_settings.config(message.guild.id)
        if config is None or message.channel.id != config.coffee_channel_id:
            return
        target = message.reference.message_id
        if target is not None:
            await self.app.services.get(CoffeeService).count_response(
                message.guild.id, target, message.author.id, "replies"
            )


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(CoffeeCog(bot))


__all__ = ["CoffeeCog", "PulseButton", "embed_of", "mentions_of", "pulse_view", "send_post"]
