"""Scheduling and posting a week's prompt (one post per discussion group, through the
outbox), /course upcoming's skip and edit, and the Saturday "no answer left alone" line."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time

import discord

from bot.calendar import WeekStatus
from bot.errors import UserFacingError
from bot.outbox.repository import NewOutboxRow
from bot.schedule_math import next_occurrence
from bot.scheduler import ScheduledRun
from bot.store.guilds import Cohort
from bot.store.schedules import Schedule
from bot.text import MESSAGE_LIMIT, shorten
from cogs.prompts.common import (
    FOLLOWUP_KIND,
    FOLLOWUP_WEEKDAY,
    GENERIC_FOLLOW_UPS,
    LEFT_ALONE_KIND,
    OUTBOX_KEY_PREFIX,
    POST_KIND,
    PostResult,
    answer_link,
    channel_problem,
    text_place,
    upcoming_key,
    week_label,
)
from cogs.prompts.core import PromptCore
from cogs.prompts.repository import BankPrompt, PromptPost, PromptSettings
from cogs.prompts.rules import PromptError, choose_prompt, validate_prompt

__all__ = ["PromptPosting"]

log = logging.getLogger(__name__)


class PromptPosting(PromptCore):
    """The weekly schedule and posts."""

    # ------------------------------------------------------------------ schedule

    async def configure(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        channel: discord.abc.GuildChannel,
        *,
        weekday: int,
        local_time: time,
        group_threshold: int | None = None,
        group_size: int | None = None,
        substantive_words: int | None = None,
    ) -> PromptSettings:
        """Check the channel up front, then save the settings and both weekly schedules."""
        problem = channel_problem(channel, guild.me)
        if problem is not None:
            raise UserFacingError(f"{problem} Fix that and run the command again; nothing changed.")
        current = await self.store.settings(guild.id, cohort.cohort_id)
        updated = current.with_changes(
            channel_id=channel.id,
            group_threshold=group_threshold or current.group_threshold,
            group_size=group_size or current.group_size,
            substantive_words=substantive_words or current.substantive_words,
        )
        await self.save_settings(updated)
        zone = await self._timezone(guild.id)
        now = self.clock.now()
        for kind, day, at in (
            (POST_KIND, weekday, local_time),
            (FOLLOWUP_KIND, FOLLOWUP_WEEKDAY, time(0, 0)),
        ):
            await self.schedules.save_weekly(
                guild.id, cohort.cohort_id, kind, day, at, zone, now=now
            )
        if self._rebuild is not None:
            await self._rebuild()
        return updated

    async def schedule_of(self, guild_id: int, cohort_id: int) -> Schedule | None:
        return await self.schedules.get(guild_id, cohort_id, POST_KIND)

    # ------------------------------------------------------------------ building a post

    async def build_post(
        self,
        guild_id: int,
        prompt_text: str,
        follow_ups: Sequence[str],
        *,
        title: str,
        is_forum: bool,
        tag_name: str,
        alerts_role_id: int | None,
    ) -> str:
        how = (
            await self.templates.render(guild_id, "prompt_how_forum", tag=tag_name)
            if is_forum
            else await self.templates.render(guild_id, "prompt_how_text")
        )
        stems = "\n".join(f"• {s}" for s in (follow_ups or GENERIC_FOLLOW_UPS))
        alerts = f"<@&{alerts_role_id}>" if alerts_role_id else ""
        text = await self.templates.render(
            guild_id,
            "prompt_post",
            title=title,
            prompt=prompt_text,
            follow_ups=stems,
            how_to_answer=how,
            alerts=alerts,
        )
        return shorten(text.strip(), MESSAGE_LIMIT)

    async def _prompt_week_number(self, guild_id: int, cohort_id: int, week: WeekStatus) -> int:
        """The course week number; without a calendar, the count of prompt weeks so far + 1."""
        if week.number is not None:
            return week.number
        return await self.store.weeks_posted_before(guild_id, cohort_id, week.key) + 1

    def _title(self, week: WeekStatus, group: int, groups: int, late: bool, sequence: int) -> str:
        title = f"{week_label(week)} discussion"
        if sequence > 1:
            title += f" (prompt {sequence})"
        if groups > 1:
            title += f" · Group {group}"
        if late:
            title += " · posted late"
        return title

    # ------------------------------------------------------------------ posting

    async def post_week(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        *,
        late: bool = False,
        second: bool = False,
    ) -> PostResult:
        """Post this week's prompt to every discussion group of the cohort."""
        now = self.clock.now()
        week = await self.week(guild.id, cohort.cohort_id, now)
        if not week.running:
            return PostResult("break" if week.state == "break" else "not_running", week)
        settings = await self.store.settings(guild.id, cohort.cohort_id)
        channel = await self._usable_channel(guild, cohort, week, settings)
        if isinstance(channel, PostResult):
            return channel
        existing = await self.store.posts_for_week(guild.id, cohort.cohort_id, week.key)
        if existing and not second:
            return PostResult("already_posted", week, existing)
        override = None if second else await self._override(guild.id, cohort.cohort_id, week)
        if override is not None and override[0] == "skip":
            return PostResult("skipped", week)
        sequence = max((p.sequence for p in existing), default=0) + 1
        await self.ensure_bank(guild.id, cohort.cohort_id)
        prompt_id = choose_prompt(
            await self.store.bank_entries(guild.id, cohort.cohort_id),
            await self._prompt_week_number(guild.id, cohort.cohort_id, week),
            exclude=[p.prompt_id for p in existing],
        )
        if prompt_id is None:
            return PostResult("empty_bank", week)
        prompt = await self.store.prompt(guild.id, prompt_id)
        assert prompt is not None
        text = prompt.text
        if override is not None and override[0] == "edit" and override[1]:
            text = override[1]
        assignment = await self.refresh_groups(guild, cohort, settings)
        groups = sorted(set(assignment.values())) or [1]
        posted, row_ids = await self._queue_posts(
            guild,
            cohort,
            week,
            channel,
            prompt,
            text,
            groups,
            sequence=sequence,
            late=late,
            now=now,
        )
        return PostResult("posted", week, posted, row_ids=row_ids)

    async def _usable_channel(
        self, guild: discord.Guild, cohort: Cohort, week: WeekStatus, settings: PromptSettings
    ) -> discord.abc.GuildChannel | PostResult:
        """The cohort's discussion channel, or why nothing can be posted (the instructor is
        told once when the channel is gone or the bot lacks a permission there)."""
        if settings.channel_id is None:
            return PostResult("no_channel", week)
        channel = guild.get_channel(settings.channel_id)
        if channel is None:
            await self.tell_instructor_once(
                guild,
                cohort.cohort_id,
                f"channel-missing:{settings.channel_id}",
                f"I couldn't post the discussion prompt for {cohort.name}: its channel was "
                "deleted. Pick a new one with /course prompt schedule.",
            )
            return PostResult("channel_missing", week)
        problem = channel_problem(channel, guild.me)
        if problem is not None:
            await self.tell_instructor_once(
                guild,
                cohort.cohort_id,
                f"no-permission:{channel.id}:{week.key}",
                f"I couldn't post the discussion prompt for {cohort.name}: {problem}",
            )
            return PostResult("no_permission", week, detail=problem)
        return channel

    async def _queue_posts(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        week: WeekStatus,
        channel: discord.abc.GuildChannel,
        prompt: BankPrompt,
        text: str,
        groups: list[int],
        *,
        sequence: int,
        late: bool,
        now: datetime,
    ) -> tuple[list[PromptPost], list[int]]:
        """Claim each group's post, then queue all of them in the outbox at once; the posts
        claimed here (a group another run claimed is left out) and the outbox row ids."""
        if self._outbox is None:
            raise RuntimeError("prompts need the outbox (PromptService.attach)")
        is_forum = isinstance(channel, discord.ForumChannel)
        tag_name = week_label(week)
        tag = (
            await self._week_tag(channel, tag_name)
            if isinstance(channel, discord.ForumChannel)
            else None
        )
        role_id = await self.alerts_role_id(guild.id, cohort.cohort_id)
        posted: list[PromptPost] = []
        rows: list[NewOutboxRow] = []
        for group in groups:
            post_id = await self.store.add_post(
                guild_id=guild.id,
                cohort_id=cohort.cohort_id,
                week_key=week.key,
                week_number=week.number,
                sequence=sequence,
                group_no=group,
                prompt_id=prompt.prompt_id,
                channel_id=channel.id,
                is_forum=is_forum,
                late=late,
                now=now,
            )
            if post_id is None:
                continue  # another run claimed this group's post
            title = self._title(week, group, len(groups), late, sequence)
            content = await self.build_post(
                guild.id,
                text,
                prompt.follow_ups,
                title=title,
                is_forum=is_forum,
                tag_name=tag_name,
                alerts_role_id=role_id,
            )
            rows.append(
                self._outbox.new_row(
                    guild_id=guild.id,
                    cohort_id=cohort.cohort_id,
                    kind=POST_KIND,
                    dedupe_key=f"{OUTBOX_KEY_PREFIX}{post_id}",
                    channel_id=channel.id,
                    content=content,
                    mention_role_ids=[role_id] if role_id else [],
                    thread_name=shorten(title, 100) if is_forum else None,
                    tag_ids=[tag.id] if tag is not None else [],
                )
            )
            stored = await self.store.post(guild.id, post_id)
            assert stored is not None
            posted.append(stored)
        row_ids = [i for i in await self._outbox.enqueue_rows(rows) if i is not None]
        return posted, row_ids

    async def settle(
        self,
        guild_id: int,
        result: PostResult,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> PostResult:
        """Wait for the posts of ``result`` to be delivered (for post-now's answer with links).

        A post Discord refused is forgotten (so the instructor can try again) and the result
        becomes ``failed``; posts still queued (sending paused, Discord slow) stay listed."""
        if result.status != "posted" or not result.row_ids or self._outbox is None:
            return result
        rows = await self._outbox.wait_settled(guild_id, result.row_ids, timeout)
        failed = [r for r in rows if r.state in ("failed", "cancelled", "expired")]
        for row in failed:
            await self.store.drop_post(
                guild_id, int(row.dedupe_key.removeprefix(OUTBOX_KEY_PREFIX))
            )
        posts = [await self.store.post(guild_id, p.post_id) for p in result.posts]
        kept = [p for p in posts if p is not None]
        if failed:
            return PostResult("failed", result.week, kept, detail=str(failed[0].last_error))
        return PostResult("posted", result.week, kept, row_ids=result.row_ids)

    # ------------------------------------------------------------------ scheduled runs

    async def run_scheduled(self, run: ScheduledRun) -> None:
        guild = self._guild(run.guild_id)
        cohort = await self._cohort(run.guild_id, run.cohort_id)
        if guild is None or cohort is None:
            return
        if run.kind == POST_KIND:
            await self.post_week(guild, cohort, late=run.late)
        elif run.kind == FOLLOWUP_KIND:
            await self.note_unanswered(guild, cohort)

    async def run_missed(self, run: ScheduledRun) -> None:
        """The bot was down beyond the grace window: skip the post, tell the instructor."""
        guild = self._guild(run.guild_id)
        cohort = await self._cohort(run.guild_id, run.cohort_id)
        if guild is None or cohort is None or run.kind != POST_KIND:
            return
        when = int(run.occurrence.timestamp())
        await self.tell_instructor_once(
            guild,
            cohort.cohort_id,
            f"missed:{run.slot}",
            f"The discussion prompt for {cohort.name} due <t:{when}:f> was not posted: I was "
            "offline then and it is now too late to post it on schedule. Run "
            "/course prompt post-now if you'd still like this week's prompt.",
        )

    async def _override(
        self, guild_id: int, cohort_id: int, week: WeekStatus
    ) -> tuple[str, str | None] | None:
        if self._upcoming is None:
            return None
        found = await self._upcoming.override(guild_id, upcoming_key(cohort_id, week.key))
        return None if found is None else (found.action, found.body)

    async def upcoming(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[tuple[str, datetime, int, str]]:
        """(key, when, cohort id, preview text) of each prompt due between start and end."""
        items: list[tuple[str, datetime, int, str]] = []
        for settings in await self.guild_settings(guild_id):
            if settings.channel_id is None or settings.cohort_id == 0:
                continue
            schedule = await self.schedule_of(guild_id, settings.cohort_id)
            if schedule is None or not schedule.enabled:
                continue
            when = next_occurrence(schedule.weekday, schedule.local_time, schedule.zone, start)
            while when <= end:
                week = await self.week(guild_id, settings.cohort_id, when)
                done = await self.store.posts_for_week(guild_id, settings.cohort_id, week.key)
                if week.running and not done:
                    override = await self._override(guild_id, settings.cohort_id, week)
                    if override is None or override[0] != "skip":
                        text = override[1] if override and override[1] else None
                        if text is None:
                            await self.ensure_bank(guild_id, settings.cohort_id)
                            chosen = choose_prompt(
                                await self.store.bank_entries(guild_id, settings.cohort_id),
                                await self._prompt_week_number(guild_id, settings.cohort_id, week),
                            )
                            prompt = await self.store.prompt(guild_id, chosen) if chosen else None
                            text = prompt.text if prompt else "(the prompt bank is empty)"
                        items.append(
                            (
                                upcoming_key(settings.cohort_id, week.key),
                                when,
                                settings.cohort_id,
                                text,
                            )
                        )
                when = next_occurrence(schedule.weekday, schedule.local_time, schedule.zone, when)
        return items

    async def skip_week(self, guild_id: int, key: str, actor_id: int) -> None:
        if self._upcoming is not None:
            await self._upcoming.set_override(guild_id, key, "skip", None, actor_id=actor_id)

    async def edit_week(self, guild_id: int, key: str, text: str, actor_id: int) -> None:
        try:
            spec = validate_prompt(text)
        except PromptError as exc:
            raise UserFacingError(f"{exc} Nothing was changed.") from None
        if self._upcoming is not None:
            await self._upcoming.set_override(guild_id, key, "edit", spec.text, actor_id=actor_id)

    # ------------------------------------------------------------------ no answer left alone

    async def note_unanswered(self, guild: discord.Guild, cohort: Cohort) -> int:
        """Add one inviting line to each group's prompt post that links its answers without
        replies; returns how many posts got the line."""
        week = await self.week(guild.id, cohort.cohort_id)
        if not week.running:
            return 0
        noted = 0
        for post in await self.store.posts_for_week(guild.id, cohort.cohort_id, week.key):
            if post.left_alone_noted or post.message_id is None:
                continue
            waiting = await self.store.answers_without_replies(
                guild.id, cohort.cohort_id, week.key, post_id=post.post_id
            )
            if not waiting:
                continue
            links = " ".join(answer_link(guild.id, a) for a in waiting[:10])
            line = await self.templates.render(guild.id, "prompt_left_alone", links=links)
            slot = str(post.post_id)
            key = (guild.id, cohort.cohort_id, LEFT_ALONE_KIND, slot)
            # Claimed before the edit: a restart between the edit and the mark never edits twice.
            if not await self.ledger.claim(*key, now=self.clock.now()):
                continue
            try:
                if await self._append_line(guild, post, line):
                    await self.store.mark_left_alone_noted(guild.id, post.post_id)
                    noted += 1
                await self.ledger.mark(*key, "done")
            except discord.HTTPException as exc:
                await self.ledger.mark(*key, "failed", f"{exc.status} {exc.code}")
                log.warning("could not add the follow-up line in guild %s: %s", guild.id, exc)
        return noted

    async def _append_line(self, guild: discord.Guild, post: PromptPost, line: str) -> bool:
        assert post.message_id is not None
        channel = await text_place(guild, post.message_id if post.is_forum else post.channel_id)
        if channel is None:
            return False
        message = await channel.fetch_message(post.message_id)
        if message.content.endswith(line):
            return True  # already there (an edit that was not recorded)
        content = shorten(f"{message.content}\n\n{line}", MESSAGE_LIMIT)
        await message.edit(content=content, allowed_mentions=discord.AllowedMentions.none())
        return True
