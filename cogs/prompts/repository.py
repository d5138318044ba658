"""Weekly discussion prompts: settings, the prompt bank, groups, weekly posts, answers, peer
replies. All the SQL of the feature; every query filters by guild.

``week_key`` is the course week's key (its local Monday, ``"2026-09-07"``, as
:attr:`bot.calendar.WeekStatus.key` gives it). Message text is never stored: only ids and
word counts.

For the digest, per cohort and week: :meth:`PromptRepository.week_participation`
(answered, replies given substantive/short, replies received, per student),
:meth:`PromptRepository.answers_without_replies` and :meth:`PromptRepository.most_replied_answer`.
The digest itself counts in 7-day windows ending at the digest's instant:
:meth:`PromptRepository.window_counts`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.guild_model import SettingsRecord
from bot.store.contract import (
    PersonRows,
    Redaction,
    TablesRepository,
)
from bot.store.rows import Records, SettingsTable, row_mapper
from bot.store.times import to_db_time
from cogs.prompts.rules import (
    DEFAULT_GROUP_SIZE,
    DEFAULT_GROUP_THRESHOLD,
    DEFAULT_SUBSTANTIVE_WORDS,
    BankEntry,
    PromptSpec,
)

#: The name of an answer thread once its author erased their data.
ERASED_ANSWER_THREAD_NAME = "A classmate's answer"

__all__ = [
    "Answer",
    "BankPrompt",
    "ParticipationRow",
    "PromptPost",
    "PromptRepository",
    "PromptSettings",
    "PromptWindowCounts",
]


@dataclass(frozen=True)
class PromptSettings(SettingsRecord):
    guild_id: int
    cohort_id: int
    channel_id: int | None = None
    group_threshold: int = DEFAULT_GROUP_THRESHOLD
    group_size: int = DEFAULT_GROUP_SIZE
    substantive_words: int = DEFAULT_SUBSTANTIVE_WORDS
    alerts_role_id: int | None = None
    bank_seeded: bool = False


@dataclass(frozen=True)
class BankPrompt:
    prompt_id: int
    guild_id: int
    cohort_id: int
    text: str
    theme: str
    week: int | None
    follow_ups: tuple[str, ...]
    source: str
    removed: bool


@dataclass(frozen=True)
class PromptPost:
    post_id: int
    guild_id: int
    cohort_id: int
    week_key: str
    week_number: int | None
    sequence: int
    group_no: int
    prompt_id: int
    channel_id: int
    is_forum: bool
    message_id: int | None  # the prompt message (text) or the forum post's thread id
    late: bool
    posted_at: datetime
    left_alone_noted: bool


@dataclass(frozen=True)
class Answer:
    answer_id: int
    guild_id: int
    cohort_id: int
    post_id: int
    week_key: str
    user_id: int  # negative once the student erased their data
    place_id: int  # the forum post / thread where replies go
    message_id: int
    by_bot: bool  # posted by the bot for /prompt answer (editable by the bot)
    words: int
    created_at: datetime


@dataclass(frozen=True)
class ParticipationRow:
    user_id: int
    answered: bool
    replies_substantive: int
    replies_short: int
    replies_received: int

    @property
    def replies_given(self) -> int:
        return self.replies_substantive + self.replies_short


_prompt = row_mapper(
    BankPrompt,
    columns={"prompt_id": "id"},
    convert={"follow_ups": lambda text: tuple(json.loads(text))},
)
_answer = row_mapper(Answer, columns={"answer_id": "id"})
_SETTINGS = SettingsTable("prompt_settings", PromptSettings, key=("guild_id", "cohort_id"))
_BANK = Records("prompt_bank", _prompt)
_POSTS = Records("prompt_posts", row_mapper(PromptPost, columns={"post_id": "id"}))
_ANSWERS = Records("prompt_answers", _answer)


class PromptRepository(TablesRepository):
    # In the order a guild's purge deletes them: what points at another table first.
    personal_tables: tuple[str, ...] = ("prompt_replies", "prompt_answers", "prompt_groups")
    non_personal_tables: tuple[str, ...] = ("prompt_posts", "prompt_bank", "prompt_settings")
    exported = (
        PersonRows("prompt_groups", "cohort_id, group_no, assigned_at"),
        PersonRows(
            "prompt_answers",
            "cohort_id, week_key, place_id, message_id, words, created_at, edited_at",
        ),
        PersonRows("prompt_replies", "message_id, answer_id, words, substantive, created_at"),
    )

    # ------------------------------------------------------------------ settings

    async def settings(self, guild_id: int, cohort_id: int) -> PromptSettings:
        return await _SETTINGS.get(self._db, guild_id, cohort_id)

    async def all_settings(self, guild_id: int) -> list[PromptSettings]:
        return await _SETTINGS.rows.all(self._db, "guild_id = ? ORDER BY cohort_id", guild_id)

    async def save_settings(self, settings: PromptSettings, *, now: datetime) -> None:
        await _SETTINGS.save(self._db, settings, updated_at=to_db_time(now))

    # ------------------------------------------------------------------ the bank

    async def add_prompts(
        self,
        guild_id: int,
        cohort_id: int,
        specs: Sequence[PromptSpec],
        *,
        source: str,
        now: datetime,
    ) -> list[int]:
        ids: list[int] = []
        async with self._db.transaction() as conn:
            for spec in specs:
                cursor = await conn.execute(
                    "INSERT INTO prompt_bank (guild_id, cohort_id, text, theme, week, "
                    "follow_ups, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        guild_id,
                        cohort_id,
                        spec.text,
                        spec.theme,
                        spec.week,
                        json.dumps(list(spec.follow_ups)),
                        source,
                        to_db_time(now),
                    ),
                )
                ids.append(int((await cursor.fetchone())["id"]))
        return ids

    async def prompts(self, guild_id: int, cohort_id: int) -> list[BankPrompt]:
        """The cohort's bank (removed prompts excluded), oldest first."""
        return await _BANK.all(
            self._db,
            "guild_id = ? AND cohort_id = ? AND removed = 0 ORDER BY id",
            guild_id,
            cohort_id,
        )

    async def prompt(self, guild_id: int, prompt_id: int) -> BankPrompt | None:
        """A prompt by id, removed or not (a posted prompt stays readable)."""
        return await _BANK.one(self._db, "guild_id = ? AND id = ?", guild_id, prompt_id)

    async def remove_prompt(self, guild_id: int, cohort_id: int, prompt_id: int) -> bool:
        # Soft delete: past posts still name their prompt.
        return await self._db.changed(
            "UPDATE prompt_bank SET removed = 1 WHERE guild_id = ? AND cohort_id = ? AND id = ? "
            "AND removed = 0",
            (guild_id, cohort_id, prompt_id),
        )

    async def bank_entries(self, guild_id: int, cohort_id: int) -> list[BankEntry]:
        """The bank with how often (and when last) each prompt was used in this cohort."""
        rows = await self._db.fetchall(
            "SELECT b.id, b.week, COUNT(DISTINCT p.week_key) AS uses, "
            "COALESCE(MAX(p.week_key), '') AS last_used FROM prompt_bank b "
            "LEFT JOIN prompt_posts p ON p.guild_id = b.guild_id AND p.cohort_id = b.cohort_id "
            "AND p.prompt_id = b.id "
            "WHERE b.guild_id = ? AND b.cohort_id = ? AND b.removed = 0 "
            "GROUP BY b.id ORDER BY b.id",
            (guild_id, cohort_id),
        )
        return [
            BankEntry(int(r["id"]), r["week"], int(r["uses"]), str(r["last_used"])) for r in rows
        ]

    # ------------------------------------------------------------------ groups

    async def groups(self, guild_id: int, cohort_id: int) -> dict[int, int]:
        return await self._db.fetchmap(
            "SELECT user_id, group_no FROM prompt_groups WHERE guild_id = ? AND cohort_id = ?",
            (guild_id, cohort_id),
        )

    async def replace_groups(
        self, guild_id: int, cohort_id: int, assignment: Mapping[int, int], *, now: datetime
    ) -> int:
        """Store the assignment (students not in it are dropped); returns rows that changed."""
        current = await self.groups(guild_id, cohort_id)
        changed = [(u, g) for u, g in assignment.items() if current.get(u) != g]
        gone = [u for u in current if u not in assignment]
        if not changed and not gone:
            return 0
        async with self._db.transaction() as conn:
            await conn.executemany(
                "DELETE FROM prompt_groups WHERE guild_id = ? AND cohort_id = ? AND user_id = ?",
                [(guild_id, cohort_id, u) for u in gone],
            )
            await conn.executemany(
                "INSERT INTO prompt_groups (guild_id, cohort_id, user_id, group_no, assigned_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, cohort_id, user_id) DO UPDATE SET "
                "group_no = excluded.group_no, assigned_at = excluded.assigned_at",
                [(guild_id, cohort_id, u, g, to_db_time(now)) for u, g in changed],
            )
        return len(changed) + len(gone)

    # ------------------------------------------------------------------ posts

    async def add_post(
        self,
        *,
        guild_id: int,
        cohort_id: int,
        week_key: str,
        week_number: int | None,
        sequence: int,
        group_no: int,
        prompt_id: int,
        channel_id: int,
        is_forum: bool,
        late: bool,
        now: datetime,
    ) -> int | None:
        """Claim the (week, sequence, group) post; None when it already exists."""
        return await self._db.insert(
            "INSERT INTO prompt_posts (guild_id, cohort_id, week_key, week_number, sequence, "
            "group_no, prompt_id, channel_id, is_forum, late, posted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, cohort_id, week_key, sequence, group_no) DO NOTHING",
            (
                guild_id,
                cohort_id,
                week_key,
                week_number,
                sequence,
                group_no,
                prompt_id,
                channel_id,
                1 if is_forum else 0,
                1 if late else 0,
                to_db_time(now),
            ),
        )

    async def set_post_message(self, guild_id: int, post_id: int, message_id: int) -> None:
        await self._db.execute_write(
            "UPDATE prompt_posts SET message_id = ? WHERE guild_id = ? AND id = ?",
            (message_id, guild_id, post_id),
        )

    async def drop_post(self, guild_id: int, post_id: int) -> None:
        """Forget a post that could not be sent (so a retry may claim it again)."""
        await self._db.execute_write(
            "DELETE FROM prompt_posts WHERE guild_id = ? AND id = ? AND message_id IS NULL",
            (guild_id, post_id),
        )

    async def posts_for_week(
        self, guild_id: int, cohort_id: int, week_key: str
    ) -> list[PromptPost]:
        return await _POSTS.all(
            self._db,
            "guild_id = ? AND cohort_id = ? AND week_key = ? ORDER BY sequence, group_no",
            guild_id,
            cohort_id,
            week_key,
        )

    async def post(self, guild_id: int, post_id: int) -> PromptPost | None:
        return await _POSTS.one(self._db, "guild_id = ? AND id = ?", guild_id, post_id)

    async def post_by_message(self, guild_id: int, message_id: int) -> PromptPost | None:
        return await _POSTS.one(
            self._db, "guild_id = ? AND message_id = ? LIMIT 1", guild_id, message_id
        )

    async def latest_posts(self, guild_id: int, cohort_id: int) -> list[PromptPost]:
        """The posts of the cohort's most recent prompt (every group), or []."""
        row = await self._db.fetchone(
            "SELECT week_key, sequence FROM prompt_posts WHERE guild_id = ? AND cohort_id = ? "
            "ORDER BY week_key DESC, sequence DESC LIMIT 1",
            (guild_id, cohort_id),
        )
        if row is None:
            return []
        return await _POSTS.all(
            self._db,
            "guild_id = ? AND cohort_id = ? AND week_key = ? AND sequence = ? ORDER BY group_no",
            guild_id,
            cohort_id,
            row["week_key"],
            row["sequence"],
        )

    async def weeks_posted_before(self, guild_id: int, cohort_id: int, week_key: str) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(DISTINCT week_key) AS n FROM prompt_posts WHERE guild_id = ? "
            "AND cohort_id = ? AND week_key < ?",
            (guild_id, cohort_id, week_key),
        )
        return int(row["n"]) if row else 0

    async def week_key_of_number(self, guild_id: int, cohort_id: int, number: int) -> str | None:
        row = await self._db.fetchone(
            "SELECT week_key FROM prompt_posts WHERE guild_id = ? AND cohort_id = ? "
            "AND week_number = ? ORDER BY week_key DESC LIMIT 1",
            (guild_id, cohort_id, number),
        )
        return None if row is None else str(row["week_key"])

    async def mark_left_alone_noted(self, guild_id: int, post_id: int) -> bool:
        return await self._db.changed(
            "UPDATE prompt_posts SET left_alone_noted = 1 WHERE guild_id = ? AND id = ? "
            "AND left_alone_noted = 0",
            (guild_id, post_id),
        )

    # ------------------------------------------------------------------ answers

    async def add_answer(
        self,
        *,
        guild_id: int,
        post: PromptPost,
        user_id: int,
        place_id: int,
        message_id: int,
        by_bot: bool,
        words: int,
        now: datetime,
    ) -> Answer | None:
        """Record an answer; None when the student already answered this post."""
        new_id = await self._db.insert(
            "INSERT INTO prompt_answers (guild_id, cohort_id, post_id, week_key, user_id, "
            "place_id, message_id, by_bot, words, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, post_id, user_id) DO NOTHING",
            (
                guild_id,
                post.cohort_id,
                post.post_id,
                post.week_key,
                user_id,
                place_id,
                message_id,
                1 if by_bot else 0,
                words,
                to_db_time(now),
            ),
        )
        return None if new_id is None else await self.answer(guild_id, new_id)

    async def answer(self, guild_id: int, answer_id: int) -> Answer | None:
        return await _ANSWERS.one(self._db, "guild_id = ? AND id = ?", guild_id, answer_id)

    async def answer_in_place(self, guild_id: int, place_id: int) -> Answer | None:
        return await _ANSWERS.one(
            self._db, "guild_id = ? AND place_id = ? LIMIT 1", guild_id, place_id
        )

    async def answer_places(self, guild_id: int) -> dict[int, int]:
        """The threads and forum posts that hold the guild's answers: place id → the id of
        the student whose answer it holds."""
        rows = await self._db.fetchall(
            "SELECT place_id, user_id FROM prompt_answers WHERE guild_id = ?", (guild_id,)
        )
        return {int(row["place_id"]): int(row["user_id"]) for row in rows}

    async def answer_by_message(self, guild_id: int, message_id: int) -> Answer | None:
        return await _ANSWERS.one(
            self._db, "guild_id = ? AND message_id = ? LIMIT 1", guild_id, message_id
        )

    async def answer_to_post(self, guild_id: int, post_id: int, user_id: int) -> Answer | None:
        return await _ANSWERS.one(
            self._db, "guild_id = ? AND post_id = ? AND user_id = ?", guild_id, post_id, user_id
        )

    async def set_answer_words(
        self, guild_id: int, answer_id: int, words: int, *, now: datetime
    ) -> None:
        await self._db.execute_write(
            "UPDATE prompt_answers SET words = ?, edited_at = ? WHERE guild_id = ? AND id = ?",
            (words, to_db_time(now), guild_id, answer_id),
        )

    async def delete_answer(self, guild_id: int, answer_id: int) -> None:
        """The answer is gone (its post or thread was deleted, or never opened). It stops
        counting for its author; classmates' replies to it are theirs and keep counting, so
        an answer with replies is kept without its author (like an erased one) instead."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE prompt_answers SET user_id = -id, words = 0 WHERE guild_id = ? AND id = ? "
                "AND EXISTS (SELECT 1 FROM prompt_replies r WHERE r.guild_id = ? "
                "AND r.answer_id = ?)",
                (guild_id, answer_id, guild_id, answer_id),
            )
            await conn.execute(
                "DELETE FROM prompt_answers WHERE guild_id = ? AND id = ? AND NOT EXISTS "
                "(SELECT 1 FROM prompt_replies r WHERE r.guild_id = ? AND r.answer_id = ?)",
                (guild_id, answer_id, guild_id, answer_id),
            )

    async def answers_for_week(self, guild_id: int, cohort_id: int, week_key: str) -> list[Answer]:
        return await _ANSWERS.all(
            self._db,
            "guild_id = ? AND cohort_id = ? AND week_key = ? ORDER BY id",
            guild_id,
            cohort_id,
            week_key,
        )

    # ------------------------------------------------------------------ replies

    async def save_reply(
        self,
        *,
        guild_id: int,
        message_id: int,
        answer_id: int,
        user_id: int,
        words: int,
        substantive: bool,
        now: datetime,
    ) -> None:
        """Insert a peer reply, or update its words if it is already stored (an edit, or the
        same message again after a gateway resume): one statement, one worker call."""
        await self._db.execute_write(
            "INSERT INTO prompt_replies (guild_id, message_id, answer_id, user_id, words, "
            "substantive, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, message_id) DO UPDATE SET words = excluded.words, "
            "substantive = excluded.substantive",
            (
                guild_id,
                message_id,
                answer_id,
                user_id,
                words,
                1 if substantive else 0,
                to_db_time(now),
            ),
        )

    async def reply_exists(self, guild_id: int, message_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM prompt_replies WHERE guild_id = ? AND message_id = ?",
            (guild_id, message_id),
        )
        return row is not None

    async def delete_reply(self, guild_id: int, message_id: int) -> bool:
        return await self._db.changed(
            "DELETE FROM prompt_replies WHERE guild_id = ? AND message_id = ?",
            (guild_id, message_id),
        )

    async def reply_cohort(self, guild_id: int, message_id: int) -> int | None:
        """The cohort of a recorded peer reply (None when the message is not one)."""
        row = await self._db.fetchone(
            "SELECT a.cohort_id FROM prompt_replies r JOIN prompt_answers a "
            "ON a.id = r.answer_id WHERE r.guild_id = ? AND r.message_id = ?",
            (guild_id, message_id),
        )
        return None if row is None else int(row["cohort_id"])

    async def update_reply_words(
        self, guild_id: int, message_id: int, words: int, substantive: bool
    ) -> bool:
        return await self._db.changed(
            "UPDATE prompt_replies SET words = ?, substantive = ? WHERE guild_id = ? "
            "AND message_id = ?",
            (words, 1 if substantive else 0, guild_id, message_id),
        )

    async def has_replied_before(self, guild_id: int, user_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM prompt_replies WHERE guild_id = ? AND user_id = ? LIMIT 1",
            (guild_id, user_id),
        )
        return row is not None

    # ------------------------------------------------------------------ the week (digest)

    async def week_participation(
        self, guild_id: int, cohort_id: int, week_key: str
    ) -> list[ParticipationRow]:
        """Per student who answered or replied in that week: answered, replies given
        (substantive / short) and replies received. Students with no activity are absent."""
        rows = await self._db.fetchall(
            "WITH a AS (SELECT id, user_id FROM prompt_answers "
            "  WHERE guild_id = ? AND cohort_id = ? AND week_key = ?), "
            "r AS (SELECT r.user_id, r.substantive, a.user_id AS to_user FROM prompt_replies r "
            "  JOIN a ON a.id = r.answer_id WHERE r.guild_id = ?), "
            "people AS (SELECT user_id FROM a UNION SELECT user_id FROM r) "
            "SELECT p.user_id, "
            "  (SELECT COUNT(*) FROM a WHERE a.user_id = p.user_id) AS answers, "
            "  (SELECT COUNT(*) FROM r WHERE r.user_id = p.user_id AND r.substantive = 1) AS subst,"
            "  (SELECT COUNT(*) FROM r WHERE r.user_id = p.user_id AND r.substantive = 0) AS short,"
            "  (SELECT COUNT(*) FROM r WHERE r.to_user = p.user_id) AS received "
            "FROM people p WHERE p.user_id > 0 ORDER BY p.user_id",
            (guild_id, cohort_id, week_key, guild_id),
        )
        return [
            ParticipationRow(
                user_id=int(r["user_id"]),
                answered=int(r["answers"]) > 0,
                replies_substantive=int(r["subst"]),
                replies_short=int(r["short"]),
                replies_received=int(r["received"]),
            )
            for r in rows
        ]

    async def answers_without_replies(
        self, guild_id: int, cohort_id: int, week_key: str, *, post_id: int | None = None
    ) -> list[Answer]:
        """Answers of that week (optionally of one group's post) nobody has replied to yet."""
        sql = (
            "SELECT a.* FROM prompt_answers a WHERE a.guild_id = ? AND a.cohort_id = ? "
            "AND a.week_key = ? AND NOT EXISTS (SELECT 1 FROM prompt_replies r "
            "WHERE r.guild_id = a.guild_id AND r.answer_id = a.id)"
        )
        params: list[Any] = [guild_id, cohort_id, week_key]
        if post_id is not None:
            sql += " AND a.post_id = ?"
            params.append(post_id)
        rows = await self._db.fetchall(sql + " ORDER BY a.id", params)
        return [_answer(r) for r in rows]

    async def most_replied_answer(
        self, guild_id: int, cohort_id: int, week_key: str
    ) -> tuple[Answer, int] | None:
        """The week's answer with the most peer replies (ties: the earliest), or None."""
        row = await self._db.fetchone(
            "SELECT a.*, COUNT(r.message_id) AS n FROM prompt_answers a "
            "JOIN prompt_replies r ON r.guild_id = a.guild_id AND r.answer_id = a.id "
            "WHERE a.guild_id = ? AND a.cohort_id = ? AND a.week_key = ? "
            "GROUP BY a.id ORDER BY n DESC, a.id LIMIT 1",
            (guild_id, cohort_id, week_key),
        )
        return None if row is None else (_answer(row), int(row["n"]))

    # ------------------------------------------------------------------ data contract

    async def posts_about_user(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        """Answers the bot posted for the student (/prompt answer) carry their words."""
        rows = await self._db.fetchall(
            "SELECT CASE WHEN p.is_forum = 1 THEN a.place_id ELSE p.channel_id END AS channel, "
            "a.message_id FROM prompt_answers a JOIN prompt_posts p ON p.id = a.post_id "
            "WHERE a.guild_id = ? AND a.user_id = ? AND a.by_bot = 1",
            (guild_id, user_id),
        )
        return [(int(r["channel"]), int(r["message_id"])) for r in rows]

    async def posts_to_redact(self, guild_id: int, user_id: int) -> list[Redaction]:
        """The answer threads the bot opened and named after the student: classmates' replies
        live there, so the thread stays and is renamed (the bot's answer post is deleted)."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT a.place_id FROM prompt_answers a JOIN prompt_posts p "
            "ON p.id = a.post_id WHERE a.guild_id = ? AND a.user_id = ? "
            "AND (a.by_bot = 1 OR p.is_forum = 0)",
            (guild_id, user_id),
        )
        return [
            Redaction(int(r["place_id"]), None, thread_name=ERASED_ANSWER_THREAD_NAME) for r in rows
        ]

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM prompt_groups WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
            # Their replies stay counted for the classmates who received them, without their
            # id (0) or word count.
            await conn.execute(
                "UPDATE prompt_replies SET user_id = 0, words = 0 WHERE guild_id = ? "
                "AND user_id = ?",
                (guild_id, user_id),
            )
            # Classmates' replies to the answer stay counted: the answer is anonymised.
            await conn.execute(
                "UPDATE prompt_answers SET user_id = -id, words = 0 WHERE guild_id = ? "
                "AND user_id = ?",
                (guild_id, user_id),
            )

    # ------------------------------------------------------------------ digest: 7-day windows

    async def window_counts(
        self,
        guild_id: int,
        cohort_id: int,
        windows: Sequence[tuple[datetime, datetime]],
        *,
        unanswered_from: datetime,
        unanswered_until: datetime,
    ) -> PromptWindowCounts:
        """The digest's prompt numbers, counted by ``created_at`` in 7-day windows
        rather than by course week: the digest compares the 7 days before it with the 7 days
        before that, whatever day it is scheduled.

        ``windows`` are (start, end) pairs, start inclusive, end exclusive, newest first and
        adjacent (:func:`cogs.digest.rules.week_windows`); ``windows[0][1]`` is the digest's
        instant.
        ``available`` is False (everything empty) when prompts were never set up for the
        cohort. Unanswered: answers written in [unanswered_from, unanswered_until] with no
        reply before the digest. Anonymised answers (erased students) are left out.
        """
        result = PromptWindowCounts()
        setup = await self._db.fetchone(
            "SELECT 1 FROM prompt_settings WHERE guild_id = ? AND cohort_id = ? "
            "UNION ALL SELECT 1 FROM prompt_posts WHERE guild_id = ? AND cohort_id = ? LIMIT 1",
            (guild_id, cohort_id, guild_id, cohort_id),
        )
        if setup is None or not windows:
            return result
        result.available = True
        await self._count_in_windows(result, guild_id, cohort_id, windows)
        as_of = windows[0][1]
        await self._count_totals(result, guild_id, cohort_id, as_of)
        await self._count_unanswered(
            result, guild_id, cohort_id, unanswered_from, unanswered_until, as_of
        )
        result.most_replied = await self._most_replied(guild_id, cohort_id, windows[0])
        return result

    async def _count_in_windows(
        self,
        result: PromptWindowCounts,
        guild_id: int,
        cohort_id: int,
        windows: Sequence[tuple[datetime, datetime]],
    ) -> None:
        """Answers written, replies given (substantive or short) and replies received, per
        student and window."""
        size = len(windows)
        as_of, oldest = windows[0][1], windows[-1][0]
        bounds = (_window_time(oldest), _window_time(as_of))
        case, params = _bucket_case("a.created_at", windows)
        for r in await self._db.fetchall(
            f"SELECT a.user_id, {case} AS w, COUNT(*) AS n FROM prompt_answers a "
            "WHERE a.guild_id = ? AND a.cohort_id = ? AND a.created_at >= ? AND a.created_at < ? "
            "AND a.user_id > 0 GROUP BY a.user_id, w",
            (*params, guild_id, cohort_id, *bounds),
        ):
            _add_count(result.answers, int(r["user_id"]), int(r["w"]), size, int(r["n"]))
        case, params = _bucket_case("r.created_at", windows)
        for r in await self._db.fetchall(
            f"SELECT r.user_id, a.user_id AS author, {case} AS w, "
            "SUM(r.substantive) AS subst, COUNT(*) AS n FROM prompt_replies r "
            "JOIN prompt_answers a ON a.guild_id = r.guild_id AND a.id = r.answer_id "
            "WHERE r.guild_id = ? AND a.cohort_id = ? AND r.created_at >= ? AND r.created_at < ? "
            "GROUP BY r.user_id, a.user_id, w",
            (*params, guild_id, cohort_id, *bounds),
        ):
            window, n, subst = int(r["w"]), int(r["n"]), int(r["subst"] or 0)
            giver, author = int(r["user_id"]), int(r["author"])
            if giver > 0:
                _add_count(result.replies_substantive, giver, window, size, subst)
                _add_count(result.replies_short, giver, window, size, n - subst)
            if author > 0:
                _add_count(result.replies_received, author, window, size, n)

    async def _count_totals(
        self, result: PromptWindowCounts, guild_id: int, cohort_id: int, as_of: datetime
    ) -> None:
        """Answers written and replies given before ``as_of``, per student, all term."""
        for r in await self._db.fetchall(
            "SELECT user_id, COUNT(*) AS n FROM prompt_answers WHERE guild_id = ? "
            "AND cohort_id = ? AND created_at < ? AND user_id > 0 GROUP BY user_id",
            (guild_id, cohort_id, _window_time(as_of)),
        ):
            result.answers_total[int(r["user_id"])] = int(r["n"])
        for r in await self._db.fetchall(
            "SELECT r.user_id, COUNT(*) AS n FROM prompt_replies r JOIN prompt_answers a "
            "ON a.guild_id = r.guild_id AND a.id = r.answer_id WHERE r.guild_id = ? "
            "AND a.cohort_id = ? AND r.created_at < ? AND r.user_id > 0 GROUP BY r.user_id",
            (guild_id, cohort_id, _window_time(as_of)),
        ):
            result.replies_given_total[int(r["user_id"])] = int(r["n"])

    async def _count_unanswered(
        self,
        result: PromptWindowCounts,
        guild_id: int,
        cohort_id: int,
        unanswered_from: datetime,
        unanswered_until: datetime,
        as_of: datetime,
    ) -> None:
        """Answers written in [unanswered_from, unanswered_until] with no reply before
        ``as_of``, per student."""
        for r in await self._db.fetchall(
            "SELECT a.user_id, COUNT(*) AS n FROM prompt_answers a WHERE a.guild_id = ? "
            "AND a.cohort_id = ? AND a.created_at >= ? AND a.created_at <= ? AND a.user_id > 0 "
            "AND NOT EXISTS (SELECT 1 FROM prompt_replies r WHERE r.guild_id = a.guild_id "
            "AND r.answer_id = a.id AND r.created_at < ?) GROUP BY a.user_id",
            (
                guild_id,
                cohort_id,
                _window_time(unanswered_from),
                _window_time(unanswered_until),
                _window_time(as_of),
            ),
        ):
            result.unanswered[int(r["user_id"])] = int(r["n"])

    async def _most_replied(
        self, guild_id: int, cohort_id: int, window: tuple[datetime, datetime]
    ) -> tuple[int, int, int, int] | None:
        """(author, place, message, replies) of the answer with the most replies in
        ``window``."""
        start, as_of = window
        row = await self._db.fetchone(
            "SELECT a.user_id, a.place_id, a.message_id, COUNT(*) AS n FROM prompt_replies r "
            "JOIN prompt_answers a ON a.guild_id = r.guild_id AND a.id = r.answer_id "
            "WHERE r.guild_id = ? AND a.cohort_id = ? AND r.created_at >= ? AND r.created_at < ? "
            "GROUP BY a.id ORDER BY n DESC, a.id LIMIT 1",
            (guild_id, cohort_id, _window_time(start), _window_time(as_of)),
        )
        if row is None:
            return None
        return (int(row["user_id"]), int(row["place_id"]), int(row["message_id"]), int(row["n"]))


@dataclass
class PromptWindowCounts:
    """:meth:`PromptRepository.window_counts`: per student, one count per window (newest
    first); students with nothing in any window are absent."""

    available: bool = False
    answers: dict[int, list[int]] = field(default_factory=dict)
    replies_substantive: dict[int, list[int]] = field(default_factory=dict)
    replies_short: dict[int, list[int]] = field(default_factory=dict)
    replies_received: dict[int, list[int]] = field(default_factory=dict)
    answers_total: dict[int, int] = field(default_factory=dict)
    replies_given_total: dict[int, int] = field(default_factory=dict)
    unanswered: dict[int, int] = field(default_factory=dict)
    #: (author id, thread/post id, message id, replies) of the most-replied answer in window 0
    most_replied: tuple[int, int, int, int] | None = None


def _window_time(instant: datetime) -> int:
    return to_db_time(instant)


def _bucket_case(
    column: str, windows: Sequence[tuple[datetime, datetime]]
) -> tuple[str, list[Any]]:
    """``CASE WHEN col >= start0 THEN 0 WHEN col >= start1 THEN 1 … END`` (newest first)."""
    parts = " ".join(f"WHEN {column} >= ? THEN {k}" for k in range(len(windows)))
    return f"CASE {parts} END", [_window_time(start) for start, _ in windows]


def _add_count(target: dict[int, list[int]], user_id: int, window: int, size: int, n: int) -> None:
    target.setdefault(user_id, [0] * size)[window] += n
