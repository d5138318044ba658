"""A week's numbers: the instructors' table, the digest's counts and who a prompt nudge is
for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import discord

from bot.calendar import WeekStatus
from bot.errors import UserFacingError
from bot.facade import PartMethod
from bot.store.guilds import Cohort
from bot.text import MESSAGE_LIMIT, chunk_lines, shorten
from cogs.prompts.common import GENERIC_FOLLOW_UPS, NUDGE_NOT_ANSWERED, answer_link, post_link
from cogs.prompts.core import PromptCore
from cogs.prompts.repository import ParticipationRow, PromptRepository

__all__ = ["PromptStats"]


class PromptStats(PromptCore):
    """Per-week participation numbers."""

    # ------------------------------------------------------------------ stats

    #: For the digest: prompt numbers in 7-day windows (see the repository).
    window_counts = PartMethod("store", PromptRepository.window_counts)

    async def resolve_week_key(
        self, guild_id: int, cohort_id: int, number: int | None
    ) -> tuple[str, str] | None:
        """(week key, label) of course week ``number`` (or the latest posted week)."""
        posts = await self.store.latest_posts(guild_id, cohort_id)
        if number is None:
            if not posts:
                return None
            post = posts[0]
            return post.week_key, (
                f"Week {post.week_number}" if post.week_number else f"Week of {post.week_key}"
            )
        key = await self.store.week_key_of_number(guild_id, cohort_id, number)
        return None if key is None else (key, f"Week {number}")

    async def stats_messages(
        self, guild: discord.Guild, cohort: Cohort, number: int | None
    ) -> list[str]:
        """The week's table for instructors, split into messages that keep the code block."""
        resolved = await self.resolve_week_key(guild.id, cohort.cohort_id, number)
        if resolved is None:
            raise UserFacingError(
                "No prompt has been posted for that week yet."
                if number is not None
                else "No prompt has been posted yet. /course prompt post-now posts one."
            )
        week_key, label = resolved
        rows = {
            r.user_id: r
            for r in await self.store.week_participation(guild.id, cohort.cohort_id, week_key)
        }
        groups = await self.store.groups(guild.id, cohort.cohort_id)
        students = await self.roster.students(guild, cohort)
        answered = sum(1 for m in students if rows.get(m.id, _EMPTY).answered)
        head = (
            f"**Discussion — {label} — {cohort.name}**\n"
            f"{answered} of {len(students)} students answered. Replies given: substantive "
            "(at least the configured word count) / short; replies received."
        )
        header = f"{'student':<22}{'grp':>4} {'ans':>4} {'subst':>6} {'short':>6} {'recv':>5}"
        table: list[str] = []
        for member in sorted(students, key=lambda m: (groups.get(m.id, 1), m.display_name)):
            row = rows.get(member.id, _EMPTY)
            table.append(
                f"{shorten(member.display_name, 21):<22}{groups.get(member.id, 1):>4} "
                f"{'yes' if row.answered else '–':>4} {row.replies_substantive:>6} "
                f"{row.replies_short:>6} {row.replies_received:>5}"
            )
        chunks = [
            "\n".join(["```", header, part, "```"])
            for part in chunk_lines(table or ["(no students)"], MESSAGE_LIMIT - 400)
        ]
        chunks[0] = f"{head}\n{chunks[0]}"
        waiting = await self.store.answers_without_replies(guild.id, cohort.cohort_id, week_key)
        if waiting:
            chunks.append(
                f"{len(waiting)} answer(s) have no replies yet: "
                + " ".join(answer_link(guild.id, a) for a in waiting[:10])
            )
        return chunks

    # ------------------------------------------------------------------ nudges

    async def nudge_candidates(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        week: WeekStatus,
        kind: str,
        students: Sequence[discord.Member],
    ) -> list[tuple[int, str, dict[str, str]]]:
        """(user id, reason, template values) of students eligible for a prompt nudge."""
        if not week.running:
            return []
        posts = await self.store.posts_for_week(guild.id, cohort.cohort_id, week.key)
        posts = [p for p in posts if p.message_id is not None]
        if not posts:
            return []
        answers = await self.store.answers_for_week(guild.id, cohort.cohort_id, week.key)
        answered = {a.user_id for a in answers}
        groups = await self.store.groups(guild.id, cohort.cohort_id)
        out: list[tuple[int, str, dict[str, str]]] = []
        if kind == NUDGE_NOT_ANSWERED:
            latest = max(p.sequence for p in posts)
            current = [p for p in posts if p.sequence == latest]
            for member in students:
                if member.id in answered:
                    continue
                post = next((p for p in current if p.group_no == groups.get(member.id)), current[0])
                out.append(
                    (
                        member.id,
                        "hasn't answered this week's prompt",
                        {"link": post_link(guild.id, post)},
                    )
                )
            return out
        rows = {
            r.user_id: r
            for r in await self.store.week_participation(guild.id, cohort.cohort_id, week.key)
        }
        waiting = await self.store.answers_without_replies(guild.id, cohort.cohort_id, week.key)
        prompt = await self.store.prompt(guild.id, posts[0].prompt_id)
        stems = prompt.follow_ups if prompt and prompt.follow_ups else GENERIC_FOLLOW_UPS
        for index, member in enumerate(students):
            row = rows.get(member.id)
            if row is None or not row.answered or row.replies_given > 0:
                continue
            others = [a for a in waiting if a.user_id != member.id]
            if not others:
                continue
            # Classmates of the same group first: that is the discussion the student reads.
            others.sort(key=lambda a: (groups.get(a.user_id) != groups.get(member.id), a.answer_id))
            out.append(
                (
                    member.id,
                    "answered but hasn't replied to a classmate",
                    {
                        "count": str(len(others)),
                        "links": "\n".join(f"• {answer_link(guild.id, a)}" for a in others[:3]),
                        "stem": stems[index % len(stems)],
                    },
                )
            )
        return out


_EMPTY: Final = ParticipationRow(0, False, 0, 0, 0)
