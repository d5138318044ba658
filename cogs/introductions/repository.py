"""Introductions, arrivals, welcomes, intro reminders and the intro settings. All their SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal, cast

from bot.store.contract import PersonRows, TablesRepository, delete_rows_in
from bot.store.db import Database, Params
from bot.store.guild_cache import GuildCache, SharedReads
from bot.store.rows import Records, SettingsTable, row_mapper
from bot.store.sql import ERASED_PLACEHOLDER
from bot.store.times import from_db_time, to_db_time

IntroSource = Literal["modal", "message"]
ReminderKind = Literal["introduce", "suggestions"]

DEFAULT_MIN_MESSAGE_LENGTH = 80
DEFAULT_NUDGE_AFTER_DAYS = 2

#: The five answers of the intro form, in order (columns of ``intros``).
INTRO_FIELDS: tuple[str, ...] = ("call_me", "location", "balancing", "hopes", "fun_fact")


@dataclass(frozen=True)
class IntroSettings:
    guild_id: int
    introduced_role_id: int | None = None
    min_message_length: int = DEFAULT_MIN_MESSAGE_LENGTH
    nudge_after_days: int = DEFAULT_NUDGE_AFTER_DAYS


@dataclass(frozen=True)
class Intro:
    guild_id: int
    user_id: int
    source: IntroSource
    channel_id: int | None
    message_id: int | None
    answers: dict[str, str]  # INTRO_FIELDS → text (only the answered ones)
    first_posted_at: datetime
    posted_at: datetime
    updated_at: datetime

    @property
    def is_posted(self) -> bool:
        """False once the post was deleted: the person may write it again."""
        return self.message_id is not None and self.channel_id is not None

    @property
    def jump_url(self) -> str | None:
        if not self.is_posted:
            return None
        return f"https://discord.com/channels/{self.guild_id}/{self.channel_id}/{self.message_id}"


@dataclass(frozen=True)
class Newcomer:
    guild_id: int
    user_id: int
    arrived_at: datetime
    welcome_channel_id: int | None
    welcome_message_id: int | None
    left_at: datetime | None


@dataclass(frozen=True)
class Welcome:
    guild_id: int
    newcomer_id: int
    welcomer_id: int
    channel_id: int | None
    message_id: int | None
    welcomed_at: datetime


def _intro(row: Any) -> Intro:
    return Intro(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        source=cast(IntroSource, row["source"]),
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        answers={name: row[name] for name in INTRO_FIELDS if row[name]},
        first_posted_at=from_db_time(row["first_posted_at"]),
        posted_at=from_db_time(row["posted_at"]),
        updated_at=from_db_time(row["updated_at"]),
    )


_SETTINGS = SettingsTable("intro_settings", IntroSettings, key=("guild_id",))
_INTROS = Records("intros", _intro)
_NEWCOMERS = Records("intro_newcomers", row_mapper(Newcomer))
_WELCOMES = Records("intro_welcomes", row_mapper(Welcome))


_ENSURE_ARRIVAL = (
    "INSERT INTO intro_newcomers (guild_id, user_id, arrived_at) VALUES (?, ?, ?) "
    "ON CONFLICT (guild_id, user_id) DO NOTHING"
)


class _OwnedPosts:
    """One post per owner, both ways: whose a message is, and which message is theirs."""

    def __init__(self, message_of: dict[int, int]) -> None:
        self.message_of = message_of  # owner → their post's message id
        self.owner_of = {message: owner for owner, message in message_of.items()}

    def moved(self, owner: int, message: int) -> None:
        """``owner``'s post is now ``message``: their earlier one no longer counts as theirs."""
        earlier = self.message_of.get(owner)
        if earlier is not None and self.owner_of.get(earlier) == owner:
            del self.owner_of[earlier]
        self.message_of[owner] = message
        self.owner_of[message] = owner


@dataclass(frozen=True)
class _PostOwners:
    """Whose intro post (by author), and whose bot welcome post (by the newcomer it
    welcomed), each message of a guild is."""

    intros: _OwnedPosts
    welcomes: _OwnedPosts

    def newcomer_of(self, message_id: int) -> int | None:
        owner = self.intros.owner_of.get(message_id)
        return owner if owner is not None else self.welcomes.owner_of.get(message_id)


#: A write that moved a post (applied to a cached or loading :class:`_PostOwners`).
_PostChange = Callable[[_PostOwners], None]


class IntroRepository(TablesRepository):
    personal_tables = ("intros", "intro_newcomers", "intro_welcomes", "intro_reminders")
    non_personal_tables = ("intro_settings",)
    exported = (
        PersonRows(
            "intros",
            f"source, channel_id, message_id, {', '.join(INTRO_FIELDS)}, "
            "first_posted_at, posted_at, updated_at",
        ),
        PersonRows(
            "intro_newcomers", "arrived_at, welcome_channel_id, welcome_message_id, left_at"
        ),
        PersonRows(
            "intro_welcomes",
            "newcomer_id, welcomer_id, channel_id, message_id, welcomed_at",
            person=("newcomer_id", "welcomer_id"),
            order_by="welcomed_at",
        ),
        PersonRows("intro_reminders", "kind, sent_at", order_by="sent_at"),
    )

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        # Read for every intro-channel message: kept in memory, forgotten by each write here
        # (and a guild purge, through ``forget``).
        self._settings: GuildCache[IntroSettings] = GuildCache()
        # Bumped whenever a post may have been removed (see ``_drop_posted``): a read of
        # the posts under way then keeps nothing.
        self._generation: dict[int, int] = {}
        # Who has a posted intro, per guild: asked for every top-level intro-channel message.
        # The guild's whole set is read once (one query, then a newcomer's first message
        # reads nothing either); ``save`` adds after its commit, and anything that can unpost
        # (a deleted post, an erasure, a purge) drops the guild's set and bumps the
        # generation, so a read or save overlapping it stores nothing.
        self._posted: dict[int, set[int]] = {}
        #: guilds whose ``_posted`` set is the whole table's (not only saves seen since)
        self._posted_complete: set[int] = set()
        # Whose intro or bot welcome a message is: asked for every reply in the intro
        # channel. Read once per guild; a save or a new welcome post moves one entry (also in
        # a read under way, which replays it), and anything else that touches a post drops
        # the guild's map with ``_posted``.
        self._post_owners: dict[int, _PostOwners] = {}
        self._post_owners_loading: dict[int, list[list[_PostChange]]] = {}
        # Messages that miss together (the first ones after a start) share one read of each.
        self._posted_reads: SharedReads[tuple[int, int], set[int]] = SharedReads()
        self._post_owner_reads: SharedReads[tuple[int, int], _PostOwners | None] = SharedReads()

    # ----- settings ------------------------------------------------------------------------

    async def settings(self, guild_id: int) -> IntroSettings:
        return await self._settings.get(guild_id, lambda: _SETTINGS.get(self._db, guild_id))

    def forget(self, guild_id: int) -> None:
        """Drop the guild's cached settings and posted intros (after a write, or a purge
        done elsewhere)."""
        self._settings.forget(guild_id)
        self._drop_posted(guild_id)

    def _drop_posted(self, guild_id: int) -> None:
        self._posted.pop(guild_id, None)
        self._posted_complete.discard(guild_id)
        self._post_owners.pop(guild_id, None)
        self._generation[guild_id] = self._generation.get(guild_id, 0) + 1

    def _post_moved(self, guild_id: int, generation: int, change: _PostChange) -> None:
        """After a committed write that moved a post: apply it to the guild's map, and to
        every read of the map under way (they replay it once they have their rows)."""
        if self._generation.get(guild_id, 0) != generation:
            return  # the map was dropped meanwhile: the next read sees the table
        owners = self._post_owners.get(guild_id)
        if owners is not None:
            change(owners)
        for replay in self._post_owners_loading.get(guild_id, ()):
            replay.append(change)

    def _remember_posted(self, guild_id: int, user_id: int, generation: int) -> None:
        if self._generation.get(guild_id, 0) == generation:
            self._posted.setdefault(guild_id, set()).add(user_id)

    async def save_settings(self, settings: IntroSettings, *, now: datetime) -> None:
        try:
            await self._save_settings(settings, now=now)
        finally:
            self.forget(settings.guild_id)

    async def _save_settings(self, settings: IntroSettings, *, now: datetime) -> None:
        await _SETTINGS.save(self._db, settings, updated_at=to_db_time(now))

    # ----- intros --------------------------------------------------------------------------

    async def get(self, guild_id: int, user_id: int) -> Intro | None:
        return await _INTROS.one(self._db, "guild_id = ? AND user_id = ?", guild_id, user_id)

    async def has_posted(self, guild_id: int, user_id: int) -> bool:
        """What ``get(...).is_posted`` says, from memory: the guild's posted intros are read
        once, then kept in step with every write here."""
        known = self._posted.get(guild_id, set())
        if user_id in known or guild_id in self._posted_complete:
            return user_id in known
        generation = self._generation.get(guild_id, 0)
        read = await self._posted_reads.read(
            (guild_id, generation), partial(self.posted_user_ids, guild_id)
        )
        if self._generation.get(guild_id, 0) != generation:
            return user_id in read  # something unposted meanwhile: keep nothing
        # A save that committed after the read added itself to ``known`` meanwhile.
        self._posted[guild_id] = merged = read | self._posted.get(guild_id, set())
        self._posted_complete.add(guild_id)
        return user_id in merged

    async def posted_user_ids(self, guild_id: int) -> set[int]:
        """Everyone in the guild whose intro post exists."""
        return set(
            await self._db.fetchcolumn(
                int,
                "SELECT user_id FROM intros WHERE guild_id = ? "
                "AND message_id IS NOT NULL AND channel_id IS NOT NULL",
                (guild_id,),
            )
        )

    async def by_message(self, guild_id: int, message_id: int) -> Intro | None:
        return await _INTROS.one(
            self._db, "guild_id = ? AND message_id = ? LIMIT 1", guild_id, message_id
        )

    async def posted(self, guild_id: int) -> list[Intro]:
        """Every intro whose post still exists, oldest first."""
        return await _INTROS.all(
            self._db,
            "guild_id = ? AND message_id IS NOT NULL ORDER BY posted_at, user_id",
            guild_id,
        )

    async def save(
        self,
        guild_id: int,
        user_id: int,
        *,
        source: IntroSource,
        channel_id: int,
        message_id: int,
        answers: dict[str, str],
        now: datetime,
        reposted: bool,
        arrival_at: datetime | None = None,
    ) -> None:
        """Insert or replace the person's intro. ``reposted`` (a new post) moves posted_at;
        an edit of the same post only moves updated_at. first_posted_at never changes.
        With ``arrival_at``, also :meth:`ensure_arrival` in the same transaction (one commit
        per intro message instead of two)."""
        stamp = to_db_time(now)
        values = [answers.get(name) for name in INTRO_FIELDS]
        columns = ", ".join(INTRO_FIELDS)
        marks = ", ".join("?" for _ in INTRO_FIELDS)
        updates = ", ".join(f"{name} = excluded.{name}" for name in INTRO_FIELDS)
        posted = "excluded.posted_at" if reposted else "intros.posted_at"
        generation = self._generation.get(guild_id, 0)
        statements: list[tuple[str, Params]] = [
            (
                f"INSERT INTO intros (guild_id, user_id, source, channel_id, message_id, "
                f"{columns}, first_posted_at, posted_at, updated_at) "
                f"VALUES (?, ?, ?, ?, ?, {marks}, ?, ?, ?) "
                f"ON CONFLICT (guild_id, user_id) DO UPDATE SET source = excluded.source, "
                f"channel_id = excluded.channel_id, message_id = excluded.message_id, "
                f"{updates}, posted_at = {posted}, updated_at = excluded.updated_at",
                (guild_id, user_id, source, channel_id, message_id, *values, stamp, stamp, stamp),
            )
        ]
        if arrival_at is not None:
            statements.append((_ENSURE_ARRIVAL, (guild_id, user_id, to_db_time(arrival_at))))
        await self._db.write_all(statements)  # one round trip on a message's path
        self._remember_posted(guild_id, user_id, generation)
        self._post_moved(
            guild_id, generation, lambda owners: owners.intros.moved(user_id, message_id)
        )

    async def mark_removed(self, guild_id: int, message_ids: Sequence[int]) -> list[Intro]:
        """The posts were deleted: forget their links (answers stay for a rewrite). Returns
        the intros that were affected, as they were before."""
        removed: list[Intro] = []
        try:
            await self._mark_removed(guild_id, message_ids, removed)
        finally:
            self._drop_posted(guild_id)
        return removed

    async def _mark_removed(
        self, guild_id: int, message_ids: Sequence[int], removed: list[Intro]
    ) -> None:
        async with self._db.transaction() as conn:
            for message_id in message_ids:
                async with conn.execute(
                    "SELECT * FROM intros WHERE guild_id = ? AND message_id = ?",
                    (guild_id, message_id),
                ) as cursor:
                    rows = list(await cursor.fetchall())
                if not rows:
                    continue
                removed.extend(_intro(row) for row in rows)
                await conn.execute(
                    "UPDATE intros SET message_id = NULL, channel_id = NULL "
                    "WHERE guild_id = ? AND message_id = ?",
                    (guild_id, message_id),
                )

    # ----- arrivals ------------------------------------------------------------------------

    async def record_arrival(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """A member joined. Returns True for a first arrival, False for a rejoin (which keeps
        the first arrival time and clears left_at)."""
        inserted = await self._db.execute_write(
            "INSERT INTO intro_newcomers (guild_id, user_id, arrived_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO NOTHING",
            (guild_id, user_id, to_db_time(now)),
        )
        if inserted:
            return True
        await self._db.execute_write(
            "UPDATE intro_newcomers SET left_at = NULL WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return False

    async def ensure_arrival(self, guild_id: int, user_id: int, *, at: datetime) -> None:
        """Someone who was there before the bot (or its join event) introduced: their arrival
        is the intro time, so they can still count as a newcomer to welcome."""
        await self._db.execute_write(_ENSURE_ARRIVAL, (guild_id, user_id, to_db_time(at)))

    async def set_welcome_post(
        self, guild_id: int, user_id: int, channel_id: int, message_id: int
    ) -> None:
        generation = self._generation.get(guild_id, 0)
        changed = await self._db.execute_write(
            "UPDATE intro_newcomers SET welcome_channel_id = ?, welcome_message_id = ? "
            "WHERE guild_id = ? AND user_id = ?",
            (channel_id, message_id, guild_id, user_id),
        )
        if changed:
            self._post_moved(
                guild_id, generation, lambda owners: owners.welcomes.moved(user_id, message_id)
            )

    async def newcomer_of_post(self, guild_id: int, message_id: int) -> int | None:
        """Whose intro post this is, else whose bot welcome it is, else None: what
        :meth:`by_message` then :meth:`by_welcome_post` say, from memory once the guild's
        posts are read."""
        owners = self._post_owners.get(guild_id)
        if owners is None:
            owners = await self._post_owner_reads.read(
                (guild_id, self._generation.get(guild_id, 0)),
                partial(self._read_post_owners, guild_id),
            )
            if owners is None:  # a post was removed during the read: ask the table
                return await self._newcomer_of_post_in_table(guild_id, message_id)
        return owners.newcomer_of(message_id)

    async def _read_post_owners(self, guild_id: int) -> _PostOwners | None:
        generation = self._generation.get(guild_id, 0)
        replay: list[_PostChange] = []
        loading = self._post_owners_loading.setdefault(guild_id, [])
        loading.append(replay)
        try:
            intros = await self._db.fetchall(
                "SELECT user_id, message_id FROM intros "
                "WHERE guild_id = ? AND message_id IS NOT NULL",
                (guild_id,),
            )
            welcomes = await self._db.fetchall(
                "SELECT user_id, welcome_message_id FROM intro_newcomers "
                "WHERE guild_id = ? AND welcome_message_id IS NOT NULL",
                (guild_id,),
            )
        finally:
            loading.remove(replay)
            if not loading:
                del self._post_owners_loading[guild_id]
        if self._generation.get(guild_id, 0) != generation:
            return None
        owners = _PostOwners(
            intros=_OwnedPosts({int(row[0]): int(row[1]) for row in intros}),
            welcomes=_OwnedPosts({int(row[0]): int(row[1]) for row in welcomes}),
        )
        for change in replay:  # writes that committed while the rows were read
            change(owners)
        self._post_owners[guild_id] = owners
        return owners

    async def _newcomer_of_post_in_table(self, guild_id: int, message_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT user_id FROM (SELECT user_id, 0 AS rank FROM intros "
            "WHERE guild_id = ? AND message_id = ? UNION ALL SELECT user_id, 1 AS rank "
            "FROM intro_newcomers WHERE guild_id = ? AND welcome_message_id = ?) "
            "ORDER BY rank LIMIT 1",
            (guild_id, message_id, guild_id, message_id),
        )
        return int(row["user_id"]) if row else None

    async def by_welcome_post(self, guild_id: int, message_id: int) -> Newcomer | None:
        return await _NEWCOMERS.one(
            self._db, "guild_id = ? AND welcome_message_id = ? LIMIT 1", guild_id, message_id
        )

    async def mark_left(self, guild_id: int, user_id: int, *, now: datetime) -> None:
        await self._db.execute_write(
            "UPDATE intro_newcomers SET left_at = ? WHERE guild_id = ? AND user_id = ?",
            (to_db_time(now), guild_id, user_id),
        )

    async def newcomer(self, guild_id: int, user_id: int) -> Newcomer | None:
        return await _NEWCOMERS.one(self._db, "guild_id = ? AND user_id = ?", guild_id, user_id)

    async def newcomers(self, guild_id: int, *, since: datetime | None = None) -> list[Newcomer]:
        """Members who arrived (and did not leave), newest first; optionally since a time."""
        after, params = ("AND arrived_at >= ? ", (to_db_time(since),)) if since else ("", ())
        return await _NEWCOMERS.all(
            self._db,
            f"guild_id = ? AND left_at IS NULL {after}ORDER BY arrived_at DESC, user_id",
            guild_id,
            *params,
        )

    # ----- welcomes ------------------------------------------------------------------------

    async def add_welcome(
        self,
        guild_id: int,
        newcomer_id: int,
        welcomer_id: int,
        *,
        channel_id: int,
        message_id: int,
        now: datetime,
    ) -> bool:
        """Record that ``welcomer_id`` welcomed ``newcomer_id``; False if already recorded."""
        inserted = await self._db.insert(
            "INSERT INTO intro_welcomes (guild_id, newcomer_id, welcomer_id, channel_id, "
            "message_id, welcomed_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, newcomer_id, welcomer_id) DO NOTHING",
            (guild_id, newcomer_id, welcomer_id, channel_id, message_id, to_db_time(now)),
        )
        return inserted is not None

    async def welcomes(self, guild_id: int) -> list[Welcome]:
        return await _WELCOMES.all(
            self._db, "guild_id = ? ORDER BY welcomed_at, newcomer_id", guild_id
        )

    # ----- reminders -----------------------------------------------------------------------

    async def reminders(self, guild_id: int, kind: ReminderKind) -> dict[int, list[datetime]]:
        rows = await self._db.fetchall(
            "SELECT user_id, sent_at FROM intro_reminders WHERE guild_id = ? AND kind = ? "
            "ORDER BY sent_at",
            (guild_id, kind),
        )
        result: dict[int, list[datetime]] = {}
        for row in rows:
            result.setdefault(int(row["user_id"]), []).append(from_db_time(row["sent_at"]))
        return result

    async def record_reminder(
        self, guild_id: int, user_id: int, kind: ReminderKind, *, now: datetime
    ) -> None:
        await self._db.execute_write(
            "INSERT INTO intro_reminders (guild_id, user_id, kind, sent_at) VALUES (?, ?, ?, ?)",
            (guild_id, user_id, kind, to_db_time(now)),
        )

    # ----- data contract -------------------------------------------------------------------

    async def first_posted_times(self, guild_id: int) -> dict[int, datetime]:
        """When each student's intro was first posted (intros whose post still exists)."""
        return await self._db.fetchmap(
            "SELECT user_id, first_posted_at FROM intros "
            "WHERE guild_id = ? AND message_id IS NOT NULL",
            (guild_id,),
            value=from_db_time,
        )

    async def arrival_times(self, guild_id: int) -> dict[int, datetime]:
        return await self._db.fetchmap(
            "SELECT user_id, arrived_at FROM intro_newcomers WHERE guild_id = ?",
            (guild_id,),
            value=from_db_time,
        )

    async def welcome_counts(self, guild_id: int) -> dict[int, int]:
        """How many classmates welcomed each newcomer."""
        return await self._db.fetchmap(
            "SELECT newcomer_id, COUNT(*) AS n FROM intro_welcomes WHERE guild_id = ? "
            "GROUP BY newcomer_id",
            (guild_id,),
        )

    async def posts_about_user(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        """The bot's posts that carry this person's words or name: their intro embed and the
        welcome post that greeted them (deleted with their data on request)."""
        posts: list[tuple[int, int]] = []
        rows = await self._db.fetchall(
            "SELECT channel_id, message_id FROM intros WHERE guild_id = ? AND user_id = ? "
            "AND source = 'modal' AND message_id IS NOT NULL AND channel_id IS NOT NULL",
            (guild_id, user_id),
        )
        posts.extend((row["channel_id"], row["message_id"]) for row in rows)
        rows = await self._db.fetchall(
            "SELECT welcome_channel_id, welcome_message_id FROM intro_newcomers "
            "WHERE guild_id = ? AND user_id = ? AND welcome_message_id IS NOT NULL "
            "AND welcome_channel_id IS NOT NULL",
            (guild_id, user_id),
        )
        posts.extend((row["welcome_channel_id"], row["welcome_message_id"]) for row in rows)
        return posts

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        try:
            await self._delete_user(guild_id, user_id)
        finally:
            self._drop_posted(guild_id)

    async def _delete_user(self, guild_id: int, user_id: int) -> None:
        erased = ERASED_PLACEHOLDER.pick(self._db.dialect)
        async with self._db.transaction() as conn:
            await delete_rows_in(
                conn, guild_id, user_id, ("intros", "intro_newcomers", "intro_reminders")
            )
            # A welcome is on two people's records: the other side keeps it, with the erased
            # person's id replaced by a negative placeholder (the primary key needs a value)
            # and their message forgotten.
            await conn.execute(
                f"UPDATE intro_welcomes SET newcomer_id = {erased} WHERE guild_id = ? "
                "AND newcomer_id = ?",
                (guild_id, user_id),
            )
            await conn.execute(
                f"UPDATE intro_welcomes SET welcomer_id = {erased}, channel_id = NULL, "
                "message_id = NULL WHERE guild_id = ? AND welcomer_id = ?",
                (guild_id, user_id),
            )
