"""Answers and peer replies: classifying students' messages, following edits and deletes,
/prompt answer, /prompt mine and /prompt group."""

from __future__ import annotations

import logging

import discord

from bot.calendar import WeekStatus
from bot.errors import UserFacingError
from bot.store.guilds import Cohort
from bot.text import shorten
from cogs.prompts.common import ANSWER_TEXT_LIMIT, answer_link, post_link, text_place, week_label
from cogs.prompts.core import PromptCore
from cogs.prompts.repository import Answer, ParticipationRow, PromptPost, PromptSettings
from cogs.prompts.rules import classify_message, word_count

__all__ = ["PromptTracking"]

log = logging.getLogger(__name__)


class PromptTracking(PromptCore):
    """Students' answers and replies."""

    # ------------------------------------------------------------------ answers and replies

    def may_handle_message(self, message: discord.Message) -> bool | None:
        """False when ``handle_message`` would certainly do nothing, decided from cached state
        without awaiting (the cog's per-message pre-filter); True when it might; None when it
        depends on the guild's prompt settings, which are not cached yet."""
        guild = message.guild
        if guild is None or message.author.bot or message.webhook_id is not None:
            return False
        if not isinstance(message.author, discord.Member):
            return False
        settings = self._settings.cached(guild.id)
        if settings is None:
            return None
        if not settings:
            return False
        channel = message.channel
        if isinstance(channel, discord.Thread):
            answer_author_id = self._answer_places.get(guild.id, {}).get(channel.id)
            if answer_author_id is not None:
                # In one's own answer's thread it is conversation: nothing to record.
                return answer_author_id != message.author.id
            return message.id == channel.id and isinstance(channel.parent, discord.ForumChannel)
        if isinstance(channel, discord.TextChannel):
            return any(s.channel_id == channel.id for s in settings)
        return False

    async def _add_answer(
        self,
        member: discord.Member,
        post: PromptPost,
        *,
        place_id: int,
        message_id: int,
        text: str,
        by_bot: bool,
    ) -> Answer | None:
        """Record ``member``'s answer to ``post`` (its words counted in ``text``), now."""
        # Noted before the insert, so a message in the new thread is never filtered out.
        self._answer_places.setdefault(member.guild.id, {})[place_id] = member.id
        return await self.store.add_answer(
            guild_id=member.guild.id,
            post=post,
            user_id=member.id,
            place_id=place_id,
            message_id=message_id,
            by_bot=by_bot,
            words=word_count(text),
            now=self.clock.now(),
        )

    async def _add_own_answer(
        self, member: discord.Member, post: PromptPost, message: discord.Message, *, place_id: int
    ) -> Answer | None:
        """A student's own message (a forum post, or in a text channel) as their answer."""
        return await self._add_answer(
            member,
            post,
            place_id=place_id,
            message_id=message.id,
            text=message.content,
            by_bot=False,
        )

    async def _cohort_settings(self, guild_id: int, cohort_id: int) -> PromptSettings:
        """A cohort's prompt settings from the guild's cached ones (every saved row); the
        defaults when the cohort has none saved, as ``store.settings`` would give."""
        for settings in await self.guild_settings(guild_id):
            if settings.cohort_id == cohort_id:
                return settings
        return PromptSettings(guild_id, cohort_id)

    async def _cohort_settings_for(
        self, member: discord.Member, channel_id: int
    ) -> PromptSettings | None:
        settings = [
            s for s in await self.guild_settings(member.guild.id) if s.channel_id == channel_id
        ]
        if not settings:
            return None
        mine = {c.cohort_id for c in await self.roster.cohorts_of(member)}
        return next((s for s in settings if s.cohort_id in mine), None)

    async def _group_post(
        self, guild: discord.Guild, cohort_id: int, user_id: int, week: WeekStatus
    ) -> PromptPost | None:
        """The student's group's post of the latest prompt this week."""
        posts = await self.store.posts_for_week(guild.id, cohort_id, week.key)
        if not posts:
            return None
        latest = max(p.sequence for p in posts)
        current = [p for p in posts if p.sequence == latest and p.message_id is not None]
        if not current:
            return None
        group = (await self.store.groups(guild.id, cohort_id)).get(user_id)
        return next((p for p in current if p.group_no == group), current[0])

    async def _post_answered_in(
        self, member: discord.Member, channel_id: int
    ) -> tuple[WeekStatus, PromptPost] | None:
        """This week's post a student's message in a prompt channel (or forum) answers: their
        group's post of the latest prompt for their cohort there; None when there is none."""
        settings = await self._cohort_settings_for(member, channel_id)
        if settings is None:
            return None
        week = await self.week(member.guild.id, settings.cohort_id)
        post = await self._group_post(member.guild, settings.cohort_id, member.id, week)
        return None if post is None else (week, post)

    async def _answer_recorded(self, guild_id: int, user_id: int) -> None:
        if self._milestones is not None:
            await self._milestones.reached(guild_id, user_id, "first_answer")

    async def handle_message(self, message: discord.Message) -> None:
        """Classify a student's message in a prompt channel, forum post or answer thread."""
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        member = message.author
        if not isinstance(member, discord.Member):
            return
        guild = message.guild
        channel = message.channel
        if not await self.guild_settings(guild.id):
            return
        if isinstance(channel, discord.Thread):
            answer = await self.store.answer_in_place(guild.id, channel.id)
            if answer is not None:
                if message.id != answer.message_id:
                    await self._thread_message(member, message, answer)
                return
            if isinstance(channel.parent, discord.ForumChannel) and message.id == channel.id:
                await self._forum_answer(member, message, channel)
            return
        if isinstance(channel, discord.TextChannel):
            await self._text_answer(member, message, channel)

    async def _thread_message(
        self, member: discord.Member, message: discord.Message, answer: Answer
    ) -> None:
        role = classify_message(
            author_id=member.id, answer_author_id=answer.user_id, is_answer_start=False
        )
        if role != "peer_reply" or not await self.roster.cohorts_of(member):
            return  # conversation in one's own thread, or staff
        settings = await self._cohort_settings(member.guild.id, answer.cohort_id)
        words = word_count(message.content)
        first_ever = not await self.store.has_replied_before(member.guild.id, member.id)
        await self.store.save_reply(
            guild_id=member.guild.id,
            message_id=message.id,
            answer_id=answer.answer_id,
            user_id=member.id,
            words=words,
            substantive=words >= settings.substantive_words,
            now=self.clock.now(),
        )
        if first_ever and self._milestones is not None:
            await self._milestones.reached(member.guild.id, member.id, "first_peer_reply")

    async def _forum_answer(
        self, member: discord.Member, message: discord.Message, thread: discord.Thread
    ) -> None:
        forum = thread.parent
        assert isinstance(forum, discord.ForumChannel)
        found = await self._post_answered_in(member, forum.id)
        if found is None:
            return
        week, post = found
        tag_name = week_label(week)
        week_tag = next((t for t in forum.available_tags if t.name == tag_name), None)
        if week_tag is not None and week_tag.id not in {t.id for t in thread.applied_tags}:
            return  # a post about something else
        answer = await self._add_own_answer(member, post, message, place_id=thread.id)
        if answer is not None:
            await self._answer_recorded(member.guild.id, member.id)

    async def _text_answer(
        self, member: discord.Member, message: discord.Message, channel: discord.TextChannel
    ) -> None:
        found = await self._post_answered_in(member, channel.id)
        if found is None:
            return
        week, post = found
        if await self.store.answer_to_post(member.guild.id, post.post_id, member.id):
            return  # one answer per prompt; later top-level messages are conversation
        # Recorded before the thread opens (a thread started from a message has the
        # message's id), so replies typed the moment it appears are never lost.
        answer = await self._add_own_answer(member, post, message, place_id=message.id)
        if answer is None:
            return
        try:
            await message.create_thread(
                name=shorten(f"{member.display_name} · {week_label(week)}", 100),
                auto_archive_duration=10080,
            )
        except discord.HTTPException as exc:
            await self.store.delete_answer(member.guild.id, answer.answer_id)
            log.warning("could not open an answer thread in guild %s: %s", member.guild.id, exc)
            return
        await self._answer_recorded(member.guild.id, member.id)

    # ------------------------------------------------------------------ edits and deletes

    async def handle_edit(self, guild_id: int, message_id: int, content: str | None) -> None:
        """A message edit (also of uncached messages): recount the words."""
        if content is None:
            return
        words = word_count(content)
        cohort_id = await self.store.reply_cohort(guild_id, message_id)
        if cohort_id is not None:
            settings = await self.store.settings(guild_id, cohort_id)
            await self.store.update_reply_words(
                guild_id, message_id, words, words >= settings.substantive_words
            )
            return
        answer = await self.store.answer_by_message(guild_id, message_id)
        if answer is not None:
            await self.store.set_answer_words(
                guild_id, answer.answer_id, words, now=self.clock.now()
            )

    async def handle_delete(self, guild_id: int, message_id: int) -> None:
        """A deleted message (also uncached): a reply stops counting; an answer is gone."""
        if await self.store.delete_reply(guild_id, message_id):
            return
        answer = await self.store.answer_by_message(guild_id, message_id)
        if answer is not None:
            await self.store.delete_answer(guild_id, answer.answer_id)

    async def handle_thread_delete(self, guild_id: int, thread_id: int) -> None:
        answer = await self.store.answer_in_place(guild_id, thread_id)
        if answer is not None:
            await self.store.delete_answer(guild_id, answer.answer_id)

    async def handle_channel_delete(self, guild: discord.Guild, channel_id: int) -> None:
        for settings in await self.guild_settings(guild.id):
            if settings.channel_id != channel_id:
                continue
            cohort = await self._cohort(guild.id, settings.cohort_id)
            await self.tell_instructor_once(
                guild,
                settings.cohort_id,
                f"channel-missing:{channel_id}",
                f"The discussion channel of {cohort.name if cohort else 'a cohort'} was "
                "deleted, so no prompts can be posted. Pick a new channel with "
                "/course prompt schedule.",
            )

    # ------------------------------------------------------------------ /prompt answer

    async def _student_context(
        self, member: discord.Member
    ) -> tuple[Cohort, PromptSettings, WeekStatus, PromptPost]:
        cohorts = await self.roster.cohorts_of(member)
        if not cohorts:
            raise UserFacingError("Discussion prompts are for students of a cohort.")
        for cohort in cohorts:
            settings = await self.store.settings(member.guild.id, cohort.cohort_id)
            if settings.channel_id is None:
                continue
            week = await self.week(member.guild.id, cohort.cohort_id)
            if not week.running:
                continue
            await self.refresh_groups(member.guild, cohort, settings)
            post = await self._group_post(member.guild, cohort.cohort_id, member.id, week)
            if post is not None:
                return cohort, settings, week, post
        raise UserFacingError(
            "There's no discussion prompt open this week yet. You'll find it in the discussion "
            "channel when it's posted."
        )

    async def current_answer_text(self, member: discord.Member) -> str | None:
        """The student's answer this week, when the bot posted it (to prefill the edit)."""
        try:
            _, _, _, post = await self._student_context(member)
        except UserFacingError:
            return None
        answer = await self.store.answer_to_post(member.guild.id, post.post_id, member.id)
        if answer is None or not answer.by_bot:
            return None
        try:
            message = await self._answer_message(member.guild, post, answer)
        except discord.HTTPException:
            return None
        if message is None:
            return None
        return message.content.split("\n", 1)[1] if "\n" in message.content else None

    async def _answer_message(
        self, guild: discord.Guild, post: PromptPost, answer: Answer
    ) -> discord.Message | None:
        channel = await text_place(guild, answer.place_id if post.is_forum else post.channel_id)
        if channel is None:
            return None
        try:
            return await channel.fetch_message(answer.message_id)
        except discord.NotFound:
            return None

    async def submit_answer(self, member: discord.Member, text: str) -> tuple[str, bool]:
        """Post (or edit) the student's answer; returns its link and whether it was an edit."""
        body = (text or "").strip()
        if not body:
            raise UserFacingError("Your answer is empty — please write something.")
        if len(body) > ANSWER_TEXT_LIMIT:
            raise UserFacingError(
                f"Your answer is {len(body)} characters; the limit is {ANSWER_TEXT_LIMIT}."
            )
        _, _, week, post = await self._student_context(member)
        guild = member.guild
        content = f"**{member.display_name}** answers:\n{body}"
        existing = await self.store.answer_to_post(guild.id, post.post_id, member.id)
        if existing is not None:
            if not existing.by_bot:
                raise UserFacingError(
                    "You answered with your own message — edit it there: "
                    f"{answer_link(guild.id, existing)}"
                )
            message = await self._answer_message(guild, post, existing)
            if message is None:
                await self.store.delete_answer(guild.id, existing.answer_id)
            else:
                await message.edit(content=content, allowed_mentions=discord.AllowedMentions.none())
                await self.store.set_answer_words(
                    guild.id, existing.answer_id, word_count(body), now=self.clock.now()
                )
                return answer_link(guild.id, existing), True
        channel = guild.get_channel(post.channel_id)
        if channel is None:
            raise UserFacingError(
                "The discussion channel is gone; your instructor has been told. Nothing was posted."
            )
        title = shorten(f"{member.display_name} · {week_label(week)}", 100)
        if isinstance(channel, discord.ForumChannel):
            tag = await self._week_tag(channel, week_label(week))
            created = await channel.create_thread(
                name=title,
                content=content,
                applied_tags=[tag] if tag else [],
                allowed_mentions=discord.AllowedMentions.none(),
                auto_archive_duration=10080,
            )
            place_id, message_id = created.thread.id, created.message.id
            thread_from: discord.Message | None = None
        elif isinstance(channel, discord.TextChannel):
            thread_from = await channel.send(
                content, allowed_mentions=discord.AllowedMentions.none()
            )
            place_id = message_id = thread_from.id  # the thread below gets the message's id
        else:
            raise UserFacingError(
                "The discussion channel can't take answers; tell your instructor."
            )
        answer = await self._add_answer(
            member, post, place_id=place_id, message_id=message_id, text=body, by_bot=True
        )
        if thread_from is not None:
            await thread_from.create_thread(name=title, auto_archive_duration=10080)
        if answer is not None:
            await self._answer_recorded(guild.id, member.id)
        return f"https://discord.com/channels/{guild.id}/{place_id}", False

    # ------------------------------------------------------------------ /prompt mine, group

    async def my_week(self, member: discord.Member) -> str:
        cohort, settings, week, post = await self._student_context(member)
        rows = await self.store.week_participation(member.guild.id, cohort.cohort_id, week.key)
        row = next((r for r in rows if r.user_id == member.id), None) or ParticipationRow(
            member.id, False, 0, 0, 0
        )
        answer = await self.store.answer_to_post(member.guild.id, post.post_id, member.id)
        lines = [f"**{week_label(week)} — your discussion**"]
        if answer is not None:
            lines.append(f"✅ You answered: {answer_link(member.guild.id, answer)}")
        else:
            lines.append(f"⬜ Not answered yet — the prompt: {post_link(member.guild.id, post)}")
        lines.append(
            f"Replies you gave classmates: {row.replies_given} "
            f"({row.replies_substantive} substantive — at least {settings.substantive_words} "
            f"words — and {row.replies_short} short)"
        )
        lines.append(f"Replies you received: {row.replies_received}")
        return "\n".join(lines)

    async def group_text(self, member: discord.Member) -> str:
        cohorts = await self.roster.cohorts_of(member)
        if not cohorts:
            raise UserFacingError("Discussion groups are for students of a cohort.")
        lines = []
        for cohort in cohorts:
            assignment = await self.refresh_groups(member.guild, cohort)
            group = assignment.get(member.id)
            count = len(set(assignment.values()))
            if group is None:
                continue
            size = sum(1 for g in assignment.values() if g == group)
            prefix = f"{cohort.name}: " if len(cohorts) > 1 else ""
            if count <= 1:
                lines.append(
                    f"{prefix}Your cohort discusses together in one group ({size} students)."
                )
            else:
                lines.append(
                    f"{prefix}You're in discussion group {group} of {count} ({size} students). "
                    "Groups stay the same from week to week; each group gets its own prompt post."
                )
            week = await self.week(member.guild.id, cohort.cohort_id)
            post = await self._group_post(member.guild, cohort.cohort_id, member.id, week)
            if post is not None:
                lines.append(
                    f"This week's prompt for your group: {post_link(member.guild.id, post)}"
                )
        return "\n".join(lines) or "You're not in a discussion group yet."
