"""Alumni mentors' repository: settings, offers, requests and pairs, students waiting. All its
SQL. Instants are stored as epoch seconds."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.store.contract import (
    PersonRows,
    Redaction,
    TablesRepository,
    export_rows,
    row_to_dict,
)
from bot.store.db import Database
from bot.store.rows import Records, SettingsTable, row_mapper
from bot.store.times import to_db_time

__all__ = [
    "MentorGuildSettings",
    "MentorOffer",
    "MentorRepository",
    "MentorRequest",
]

OPEN_STATES = ("pending", "active")


@dataclass(frozen=True)
class MentorGuildSettings:
    guild_id: int
    alumni_role_id: int | None = None
    requests_per_week: int = 3


@dataclass(frozen=True)
class MentorOffer:
    guild_id: int
    user_id: int
    cohort_id: int
    help_areas: tuple[str, ...]
    help_note: str
    capacity: int
    shown_items: tuple[str, ...]
    #: the shown items' values when the offer was last saved (used once the profile is gone)
    shown_values: dict[str, str]
    status: str  # active, paused (by the mentor), left (the server)
    created_at: datetime


@dataclass(frozen=True)
class MentorRequest:
    request_id: int
    guild_id: int
    cohort_id: int
    student_id: int | None
    mentor_id: int | None
    state: str
    source: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    thread_id: int | None


def _names(text: str) -> tuple[str, ...]:
    return tuple(name for name in str(text).split(",") if name)


_offer = row_mapper(
    MentorOffer,
    convert={
        "help_areas": _names,
        "shown_items": _names,
        "shown_values": lambda text: dict(json.loads(text or "{}")),
    },
)


_GUILD_SETTINGS = SettingsTable("mentor_guild_settings", MentorGuildSettings, key=("guild_id",))
_OFFERS = Records("mentor_offers", _offer)
_REQUESTS = Records(
    "mentor_requests",
    row_mapper(MentorRequest),
    columns="request_id, guild_id, cohort_id, student_id, mentor_id, state, source, "
    "created_at, expires_at, answered_at, thread_id",
)
#: What an export shows of the person's offer and wait (their requests name a role too).
_EXPORTED = (
    PersonRows("mentor_offers", "*"),
    PersonRows("mentor_seekers", "cohort_id, asked_at"),
)


class MentorRepository(TablesRepository):
    # In the order a guild's purge deletes them.
    personal_tables: tuple[str, ...] = ("mentor_requests", "mentor_offers", "mentor_seekers")
    non_personal_tables: tuple[str, ...] = ("mentor_cohort_settings", "mentor_guild_settings")

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(db)
        self._clock = clock
        #: ``listener(guild_id, requests)`` after a student is erased, with the open requests
        #: and pairs of theirs that the erasure closed (the service tells their mentors)
        self.student_erased: Callable[[int, Sequence[MentorRequest]], Awaitable[None]] | None
        self.student_erased = None

    # ------------------------------------------------------------------ settings

    async def guild_settings(self, guild_id: int) -> MentorGuildSettings:
        return await _GUILD_SETTINGS.get(self._db, guild_id)

    async def save_guild_settings(self, settings: MentorGuildSettings) -> None:
        await _GUILD_SETTINGS.save(self._db, settings)

    async def cohort_enabled(self, guild_id: int, cohort_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT enabled FROM mentor_cohort_settings WHERE guild_id = ? AND cohort_id = ?",
            (guild_id, cohort_id),
        )
        return True if row is None else bool(row["enabled"])

    async def set_cohort_enabled(self, guild_id: int, cohort_id: int, enabled: bool) -> None:
        await self._db.upsert(
            "mentor_cohort_settings",
            {"guild_id": guild_id, "cohort_id": cohort_id},
            {"enabled": int(enabled)},
        )

    # ------------------------------------------------------------------ offers

    async def save_offer(
        self,
        *,
        guild_id: int,
        user_id: int,
        cohort_id: int,
        help_areas: tuple[str, ...],
        help_note: str,
        capacity: int,
        shown_values: dict[str, str],
        now: datetime,
    ) -> None:
        """Create or replace the offer (a saved offer is active again)."""
        await self._db.upsert(
            "mentor_offers",
            {"guild_id": guild_id, "user_id": user_id},
            {
                "cohort_id": cohort_id,
                "help_areas": ",".join(help_areas),
                "help_note": help_note,
                "capacity": capacity,
                "shown_items": ",".join(shown_values),
                "shown_values": json.dumps(shown_values, sort_keys=True),
                "status": "active",
                "updated_at": to_db_time(now),
            },
            on_insert={"created_at": to_db_time(now)},
        )

    async def offer(self, guild_id: int, user_id: int) -> MentorOffer | None:
        return await _OFFERS.one(self._db, "guild_id = ? AND user_id = ?", guild_id, user_id)

    async def offers(self, guild_id: int, *, active_only: bool = False) -> list[MentorOffer]:
        active = " AND status = 'active'" if active_only else ""
        return await _OFFERS.all(self._db, f"guild_id = ?{active} ORDER BY user_id", guild_id)

    async def set_status(self, guild_id: int, user_id: int, status: str, now: datetime) -> bool:
        return await self._db.changed(
            "UPDATE mentor_offers SET status = ?, updated_at = ? "
            "WHERE guild_id = ? AND user_id = ?",
            (status, to_db_time(now), guild_id, user_id),
        )

    async def delete_offer(self, guild_id: int, user_id: int) -> bool:
        return await self._db.changed(
            "DELETE FROM mentor_offers WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    # ------------------------------------------------------------------ requests and pairs

    async def add_request(
        self,
        *,
        guild_id: int,
        cohort_id: int,
        student_id: int,
        mentor_id: int,
        state: str,
        source: str,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO mentor_requests (guild_id, cohort_id, student_id, mentor_id, state, "
                "source, created_at, expires_at, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING request_id",
                (
                    guild_id,
                    cohort_id,
                    student_id,
                    mentor_id,
                    state,
                    source,
                    to_db_time(now),
                    to_db_time(expires_at),
                    to_db_time(now) if state == "active" else None,
                ),
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None
            if state == "active":
                await conn.execute(
                    "DELETE FROM mentor_seekers WHERE guild_id = ? AND user_id = ?",
                    (guild_id, student_id),
                )
        return int(row[0])

    async def request(self, guild_id: int, request_id: int) -> MentorRequest | None:
        return await _REQUESTS.one(
            self._db, "guild_id = ? AND request_id = ?", guild_id, request_id
        )

    async def answer(
        self, guild_id: int, request_id: int, state: str, now: datetime, *, from_state: str
    ) -> bool:
        """Move a request from ``from_state`` to ``state``; False when it was not there (a second
        click, an expired or forged request): nothing changes then."""
        return await self._db.changed(
            "UPDATE mentor_requests SET state = ?, answered_at = ? "
            "WHERE guild_id = ? AND request_id = ? AND state = ?",
            (state, to_db_time(now), guild_id, request_id, from_state),
        )

    async def end(self, guild_id: int, request_id: int, state: str, now: datetime) -> bool:
        """Close an open request or pair (cancelled, ended)."""
        return await self._db.changed(
            "UPDATE mentor_requests SET state = ?, ended_at = ? "
            "WHERE guild_id = ? AND request_id = ? AND state IN ('pending', 'active')",
            (state, to_db_time(now), guild_id, request_id),
        )

    async def set_thread(self, guild_id: int, request_id: int, thread_id: int) -> None:
        await self._db.execute_write(
            "UPDATE mentor_requests SET thread_id = ? WHERE guild_id = ? AND request_id = ?",
            (thread_id, guild_id, request_id),
        )

    async def open_of_mentor(self, guild_id: int, mentor_id: int) -> list[MentorRequest]:
        return await self._open_of("mentor_id", guild_id, mentor_id)

    async def open_of_student(self, guild_id: int, student_id: int) -> list[MentorRequest]:
        return await self._open_of("student_id", guild_id, student_id)

    async def _open_of(self, side: str, guild_id: int, user_id: int) -> list[MentorRequest]:
        """The pending requests and active pairs where ``side`` (student_id, mentor_id) is
        the person."""
        return await _REQUESTS.all(
            self._db,
            f"guild_id = ? AND {side} = ? AND state IN ('pending', 'active') ORDER BY request_id",
            guild_id,
            user_id,
        )

    async def last_of_student(self, guild_id: int, student_id: int) -> MentorRequest | None:
        return await _REQUESTS.one(
            self._db,
            "guild_id = ? AND student_id = ? ORDER BY request_id DESC LIMIT 1",
            guild_id,
            student_id,
        )

    async def asked_by(self, guild_id: int, student_id: int) -> set[int]:
        """Mentors this student has already asked (any outcome): not suggested again."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT mentor_id FROM mentor_requests WHERE guild_id = ? AND student_id = ? "
            "AND mentor_id IS NOT NULL",
            (guild_id, student_id),
        )
        return {int(r["mentor_id"]) for r in rows}

    async def open_counts(self, guild_id: int) -> dict[int, int]:
        """mentor → pending requests plus active pairs (what uses their capacity)."""
        return await self._db.fetchmap(
            "SELECT mentor_id, COUNT(*) AS n FROM mentor_requests WHERE guild_id = ? "
            "AND mentor_id IS NOT NULL AND state IN ('pending', 'active') GROUP BY mentor_id",
            (guild_id,),
        )

    async def asks_since(self, guild_id: int, since: datetime) -> dict[int, int]:
        """mentor → requests students sent them since ``since`` (the weekly cap)."""
        return await self._db.fetchmap(
            "SELECT mentor_id, COUNT(*) AS n FROM mentor_requests WHERE guild_id = ? "
            "AND mentor_id IS NOT NULL AND source = 'ask' AND created_at >= ? GROUP BY mentor_id",
            (guild_id, to_db_time(since)),
        )

    async def expired_pending(self, now: datetime) -> list[MentorRequest]:
        return await _REQUESTS.all(
            self._db,
            "state = 'pending' AND expires_at <= ? ORDER BY guild_id, request_id",
            to_db_time(now),
        )

    async def pairs(
        self, guild_id: int, *, states: tuple[str, ...] = ("active",)
    ) -> list[MentorRequest]:
        marks = ", ".join("?" for _ in states)
        return await _REQUESTS.all(
            self._db, f"guild_id = ? AND state IN ({marks}) ORDER BY request_id", guild_id, *states
        )

    async def by_thread(self, guild_id: int, thread_id: int) -> MentorRequest | None:
        return await _REQUESTS.one(
            self._db, "guild_id = ? AND thread_id = ? LIMIT 1", guild_id, thread_id
        )

    async def digest_counts(
        self, guild_id: int, cohort_id: int, since: datetime, until: datetime
    ) -> tuple[set[int], int]:
        """(students of the cohort with an active mentor, pairs accepted in the window)."""
        rows = await self._db.fetchall(
            "SELECT student_id FROM mentor_requests WHERE guild_id = ? AND cohort_id = ? "
            "AND state = 'active' AND student_id IS NOT NULL",
            (guild_id, cohort_id),
        )
        new = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM mentor_requests WHERE guild_id = ? AND cohort_id = ? "
            "AND answered_at >= ? AND answered_at < ? AND state IN ('active', 'ended')",
            (guild_id, cohort_id, to_db_time(since), to_db_time(until)),
        )
        return {int(r["student_id"]) for r in rows}, int(new["n"]) if new else 0

    # ------------------------------------------------------------------ students waiting

    async def add_seeker(self, guild_id: int, user_id: int, cohort_id: int, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO mentor_seekers (guild_id, user_id, cohort_id, asked_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO NOTHING",
            (guild_id, user_id, cohort_id, to_db_time(now)),
        )

    async def remove_seeker(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM mentor_seekers WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    async def seekers(self, guild_id: int, cohort_id: int | None = None) -> dict[int, int]:
        """student → cohort, for students waiting for a mentor."""
        sql = "SELECT user_id, cohort_id FROM mentor_seekers WHERE guild_id = ?"
        params: tuple[int, ...] = (guild_id,)
        if cohort_id is not None:
            sql += " AND cohort_id = ?"
            params = (guild_id, cohort_id)
        return await self._db.fetchmap(sql + " ORDER BY asked_at, user_id", params)

    # ------------------------------------------------------------------ the data contract

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        requests = await self._db.fetchall(
            "SELECT request_id, cohort_id, state, source, created_at, expires_at, answered_at, "
            "ended_at, CASE WHEN student_id = ? THEN 'student' ELSE 'mentor' END AS role "
            "FROM mentor_requests WHERE guild_id = ? AND (student_id = ? OR mentor_id = ?)",
            (user_id, guild_id, user_id, user_id),
        )
        rows = await export_rows(self._db, guild_id, user_id, *_EXPORTED)
        return {
            "mentor_offers": rows["mentor_offers"],
            "mentor_requests": [row_to_dict(r) for r in requests],
            "mentor_seekers": rows["mentor_seekers"],
        }

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        """Erase the person. Their open requests and pairs are closed first; the other side's
        rows stay, with this person's id removed (their own history is theirs)."""
        await self._erase_person(guild_id, user_id)

    async def _erase_person(self, guild_id: int, user_id: int) -> None:
        closed = await self.open_of_student(guild_id, user_id)
        async with self._db.transaction() as conn:
            await self._erase_in(conn, guild_id, user_id, self._clock.now())
        if closed and self.student_erased is not None:
            await self.student_erased(guild_id, closed)

    async def retention_purge(self, guild_id: int, user_id: int) -> None:
        """The cohort's retention: everything of theirs goes except an offer they have not
        stopped (their consent) and the pairs it is serving."""
        closed = await self.open_of_student(guild_id, user_id)
        erased = False
        async with self._db.transaction() as conn:
            offer = await (
                await conn.execute(
                    "SELECT 1 FROM mentor_offers WHERE guild_id = ? AND user_id = ? "
                    "AND status IN ('active', 'paused')",
                    (guild_id, user_id),
                )
            ).fetchone()
            if offer is None:
                await self._erase_in(conn, guild_id, user_id, self._clock.now())
                erased = True
            else:
                # The pairs their offer is serving keep their mentor.
                await self._unname(
                    conn, guild_id, user_id, as_mentor="state NOT IN ('pending', 'active')"
                )
        if erased and closed and self.student_erased is not None:
            await self.student_erased(guild_id, closed)

    @staticmethod
    async def _erase_in(conn: Any, guild_id: int, user_id: int, now: datetime) -> None:
        ended = to_db_time(now)
        await conn.execute(
            "UPDATE mentor_requests SET state = CASE WHEN state = 'pending' THEN 'cancelled' "
            "ELSE 'ended' END, ended_at = ? WHERE guild_id = ? "
            "AND (student_id = ? OR mentor_id = ?) AND state IN ('pending', 'active')",
            (ended, guild_id, user_id, user_id),
        )
        await MentorRepository._unname(conn, guild_id, user_id)
        # Rows with neither side left are about nobody: gone.
        await conn.execute(
            "DELETE FROM mentor_requests WHERE guild_id = ? AND student_id IS NULL "
            "AND mentor_id IS NULL",
            (guild_id,),
        )
        await conn.execute(
            "DELETE FROM mentor_offers WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    @staticmethod
    async def _unname(conn: Any, guild_id: int, user_id: int, *, as_mentor: str = "") -> None:
        """Take the person's id out of the requests (as the student; as the mentor in the rows
        ``as_mentor`` picks, every row when empty) and out of the students waiting."""
        mentor_rows = f" AND {as_mentor}" if as_mentor else ""
        await conn.execute(
            "UPDATE mentor_requests SET student_id = NULL WHERE guild_id = ? AND student_id = ?",
            (guild_id, user_id),
        )
        await conn.execute(
            "UPDATE mentor_requests SET mentor_id = NULL WHERE guild_id = ? AND mentor_id = ?"
            + mentor_rows,
            (guild_id, user_id),
        )
        await conn.execute(
            "DELETE FROM mentor_seekers WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    async def posts_to_redact(self, guild_id: int, user_id: int) -> list[Redaction]:
        """Pair threads are named after both people: an erased person's are renamed."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT thread_id FROM mentor_requests WHERE guild_id = ? "
            "AND (student_id = ? OR mentor_id = ?) AND thread_id IS NOT NULL",
            (guild_id, user_id, user_id),
        )
        return [
            Redaction(channel_id=int(r["thread_id"]), message_id=None, thread_name="Mentor chat")
            for r in rows
        ]
