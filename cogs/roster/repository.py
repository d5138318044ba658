"""All of the roster's SQL. Instants go through bot/store/times.py like every table's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.store.contract import PersonRows, export_rows
from bot.store.db import Database
from bot.store.rows import Records, row_mapper
from bot.store.times import from_db_time, to_db_time
from cogs.roster.rules import ENROLLED, WITHDRAWN, CurrentEntry, RosterDiff

__all__ = ["ERASED_ON_SERVER", "PendingImport", "RosterRepository", "StoredCode", "Student"]

#: ``linked_at`` of an entry whose student erased their data while on the server (``user_id``
#: is NULL). It keeps neither their Discord id nor when they linked, only that they arrived,
#: so the digest does not list a present student as "not on the server yet".
ERASED_ON_SERVER = datetime(1970, 1, 1, tzinfo=UTC)

_CHUNK = 400  # ids per IN (…) list, well under SQLite's parameter limit


@dataclass(frozen=True, kw_only=True)
class Student(CurrentEntry):
    """A student of the roster as stored: their entry, and the member it is linked to."""

    entry_id: int
    user_id: int | None
    linked_at: datetime | None
    added_at: datetime

    @property
    def erased_on_server(self) -> bool:
        """Arrived, then erased their data: no link is kept, but they are not missing."""
        return self.user_id is None and self.linked_at == ERASED_ON_SERVER

    def current(self) -> CurrentEntry:
        return CurrentEntry(
            self.lms_id, self.name, self.email, self.section, self.cohort_id, self.status
        )


@dataclass(frozen=True)
class StoredCode:
    entry_id: int
    salt: bytes
    secret_hash: str


@dataclass(frozen=True)
class PendingImport:
    import_id: int
    diff_json: str
    diff_hash: str
    base_hash: str
    created_at: datetime


_STUDENT_COLUMNS = (
    "entry_id, lms_id, name, email, section, cohort_id, status, user_id, linked_at, added_at"
)


_STUDENTS = Records("roster_students", row_mapper(Student), columns=_STUDENT_COLUMNS)
_code = row_mapper(StoredCode, convert={"salt": bytes.fromhex})
_PENDING = Records(
    "roster_imports",
    row_mapper(PendingImport),
    columns="import_id, diff_json, diff_hash, base_hash, created_at",
)

#: What an export shows: the roster entry linked to the person and their wrong tries.
_EXPORTED = (
    PersonRows(
        "roster_students",
        "guild_id, lms_id, name, email, section, cohort_id, status, user_id, linked_at, added_at",
    ),
    PersonRows("roster_attempts", "guild_id, user_id, attempted_at"),
)


class RosterRepository:
    personal_tables = ("roster_students", "roster_attempts")
    # Codes hold only a selector and a salted hash (deleted with their student row); pending
    # imports are the instructor's unapplied file, deleted on Apply and after a day.
    non_personal_tables = ("roster_codes", "roster_imports")

    def __init__(self, db: Database) -> None:
        self._db = db

    # ----- students ------------------------------------------------------------------------

    async def students(self, guild_id: int) -> list[Student]:
        return await _STUDENTS.all(self._db, "guild_id = ? ORDER BY name, lms_id", guild_id)

    async def has_unlinked(self, guild_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM roster_students WHERE guild_id = ? AND user_id IS NULL "
            "AND status = ? LIMIT 1",
            (guild_id, ENROLLED),
        )
        return row is not None

    async def student(self, guild_id: int, entry_id: int) -> Student | None:
        return await _STUDENTS.one(self._db, "guild_id = ? AND entry_id = ?", guild_id, entry_id)

    async def student_of(self, guild_id: int, user_id: int) -> Student | None:
        return await _STUDENTS.one(self._db, "guild_id = ? AND user_id = ?", guild_id, user_id)

    async def search(self, guild_id: int, needle: str, limit: int = 25) -> list[Student]:
        return await _STUDENTS.all(
            self._db,
            "guild_id = ? AND LOWER(name) LIKE ? ORDER BY name LIMIT ?",
            guild_id,
            f"%{needle.lower()}%",
            limit,
        )

    async def apply(self, guild_id: int, pending_id: int, diff: RosterDiff, now: datetime) -> None:
        """Store a previewed diff and drop the pending import, in one transaction."""
        stamp = to_db_time(now)
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO roster_students (guild_id, lms_id, name, email, section, cohort_id, "
                "status, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, lms_id) DO UPDATE SET name = excluded.name, "
                "email = excluded.email, section = excluded.section, "
                "cohort_id = excluded.cohort_id, status = excluded.status, closed_at = NULL",
                [
                    (guild_id, e.lms_id, e.name, e.email, e.section, e.cohort_id, ENROLLED, stamp)
                    for e in (*diff.new, *diff.changed)
                ],
            )
            for start in range(0, len(diff.withdrawn), _CHUNK):
                chunk = diff.withdrawn[start : start + _CHUNK]
                marks = ", ".join("?" for _ in chunk)
                await conn.execute(
                    f"UPDATE roster_students SET status = ? WHERE guild_id = ? "
                    f"AND lms_id IN ({marks})",
                    (WITHDRAWN, guild_id, *chunk),
                )
            await conn.execute(
                "DELETE FROM roster_imports WHERE guild_id = ? AND import_id = ?",
                (guild_id, pending_id),
            )

    async def link(self, guild_id: int, entry_id: int, user_id: int, now: datetime) -> bool:
        """Link an unlinked entry to a member not linked elsewhere; its code is used up."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE roster_students SET user_id = ?, linked_at = ? WHERE guild_id = ? "
                "AND entry_id = ? AND user_id IS NULL AND NOT EXISTS (SELECT 1 FROM "
                "roster_students other WHERE other.guild_id = ? AND other.user_id = ?)",
                (user_id, to_db_time(now), guild_id, entry_id, guild_id, user_id),
            )
            if cursor.rowcount != 1:
                return False
            await conn.execute(
                "DELETE FROM roster_codes WHERE guild_id = ? AND entry_id = ?",
                (guild_id, entry_id),
            )
        return True

    async def unlink(self, guild_id: int, entry_id: int) -> int | None:
        """Unlink an entry; returns the member it was linked to."""
        row = await self._db.fetchone(
            "SELECT user_id FROM roster_students WHERE guild_id = ? AND entry_id = ?",
            (guild_id, entry_id),
        )
        if row is None or row["user_id"] is None:
            return None
        await self._db.execute_write(
            "UPDATE roster_students SET user_id = NULL, linked_at = NULL "
            "WHERE guild_id = ? AND entry_id = ?",
            (guild_id, entry_id),
        )
        return int(row["user_id"])

    async def close_cohort(self, guild_id: int, cohort_id: int, now: datetime) -> int:
        """Close-term: the cohort's codes expire and its rows start their retention."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM roster_codes WHERE guild_id = ? AND entry_id IN (SELECT entry_id "
                "FROM roster_students WHERE guild_id = ? AND cohort_id = ?)",
                (guild_id, guild_id, cohort_id),
            )
            expired = max(cursor.rowcount, 0)
            await conn.execute(
                "UPDATE roster_students SET closed_at = ? WHERE guild_id = ? AND cohort_id = ? "
                "AND closed_at IS NULL",
                (to_db_time(now), guild_id, cohort_id),
            )
        return expired

    async def purge_closed_before(self, cutoff: datetime) -> int:
        return await self._db.execute_write(
            "DELETE FROM roster_students WHERE closed_at IS NOT NULL AND closed_at < ?",
            (to_db_time(cutoff),),
        )

    # ----- codes ---------------------------------------------------------------------------

    async def replace_codes(
        self, guild_id: int, codes: Sequence[tuple[int, str, bytes, str]], now: datetime
    ) -> None:
        """(entry_id, selector, salt, hash) per student: a student's old code stops working."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO roster_codes (guild_id, entry_id, selector, salt, secret_hash, "
                "issued_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, entry_id) DO UPDATE "
                "SET selector = excluded.selector, salt = excluded.salt, "
                "secret_hash = excluded.secret_hash, issued_at = excluded.issued_at",
                [(guild_id, e, sel, salt.hex(), h, to_db_time(now)) for e, sel, salt, h in codes],
            )

    async def selectors(self, guild_id: int) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT selector FROM roster_codes WHERE guild_id = ?", (guild_id,)
        )
        return {str(row["selector"]) for row in rows}

    async def code(self, guild_id: int, selector: str) -> StoredCode | None:
        return await self._db.fetchone_as(
            _code,
            "SELECT c.entry_id, c.salt, c.secret_hash FROM roster_codes c JOIN roster_students s "
            "ON s.entry_id = c.entry_id WHERE c.guild_id = ? AND c.selector = ? "
            "AND s.user_id IS NULL AND s.status = ?",
            (guild_id, selector, ENROLLED),
        )

    # ----- wrong tries ---------------------------------------------------------------------

    async def record_attempt(self, guild_id: int, user_id: int, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO roster_attempts (guild_id, user_id, attempted_at) VALUES (?, ?, ?)",
            (guild_id, user_id, to_db_time(now)),
        )

    async def attempts_since(self, guild_id: int, user_id: int, since: datetime) -> list[datetime]:
        return await self._db.fetchcolumn(
            from_db_time,
            "SELECT attempted_at FROM roster_attempts WHERE guild_id = ? AND user_id = ? "
            "AND attempted_at >= ? ORDER BY attempted_at",
            (guild_id, user_id, to_db_time(since)),
        )

    async def forget_attempts_before(self, cutoff: datetime) -> int:
        return await self._db.execute_write(
            "DELETE FROM roster_attempts WHERE attempted_at < ?", (to_db_time(cutoff),)
        )

    # ----- pending imports -----------------------------------------------------------------

    async def save_pending(
        self, guild_id: int, diff: RosterDiff, base_hash: str, now: datetime
    ) -> int:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM roster_imports WHERE created_at < ?",
                (to_db_time(now - timedelta(days=1)),),
            )
            cursor = await conn.execute(
                "INSERT INTO roster_imports (guild_id, diff_json, diff_hash, base_hash, "
                "created_at) VALUES (?, ?, ?, ?, ?) RETURNING import_id",
                (guild_id, diff.to_json(), diff.digest(), base_hash, to_db_time(now)),
            )
            row = await cursor.fetchone()
            await cursor.close()
        assert row is not None
        return int(row[0])

    async def forget_pending_before(self, cutoff: datetime) -> int:
        return await self._db.execute_write(
            "DELETE FROM roster_imports WHERE created_at < ?", (to_db_time(cutoff),)
        )

    async def pending(self, guild_id: int, import_id: int) -> PendingImport | None:
        return await _PENDING.one(self._db, "guild_id = ? AND import_id = ?", guild_id, import_id)

    # ----- the data contract ---------------------------------------------------------------

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        return await export_rows(self._db, guild_id, user_id, *_EXPORTED)

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        """Unlink: the instructor's roster entry stays (it is the institution's), "not
        linked"; what the bot learned (the link, the wrong tries) goes. A person erases their
        data from the server (``/privacy delete`` is a server command), so the entry keeps
        only the mark :data:`ERASED_ON_SERVER`."""
        await self._unlink_person(guild_id, user_id, ERASED_ON_SERVER)

    async def retention_purge(self, guild_id: int, user_id: int) -> None:
        """The cohort's retention erases people who may have left long ago: plain unlink,
        no "arrived" mark (the entries themselves go with the roster's own retention)."""
        await self._unlink_person(guild_id, user_id, None)

    async def _unlink_person(self, guild_id: int, user_id: int, mark: datetime | None) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE roster_students SET user_id = NULL, linked_at = ? "
                "WHERE guild_id = ? AND user_id = ?",
                (None if mark is None else to_db_time(mark), guild_id, user_id),
            )
            await conn.execute(
                "DELETE FROM roster_attempts WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
