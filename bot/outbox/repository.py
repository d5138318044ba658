"""The outbox (every scheduled or bulk message), sending pauses and one-off occasion overrides.

A row's life: ``pending`` → ``sending`` (claimed by the sender before the HTTP call) →
``sent`` | ``failed``; or ``pending`` → ``cancelled`` (skipped) | ``expired`` (not sent before
its ``expires_at``). ``UNIQUE(guild_id, kind, dedupe_key)`` makes the same message impossible
to queue twice. The claim is one ``UPDATE … WHERE state = 'pending'``, so two senders (or a
sender and a test's drain) never get the same row; it records when (``claimed_at``) and by
which run of which cluster member (``claimed_by``) the row was claimed.

A row's ``target`` is a ``message`` (in ``channel_id``, or a DM to ``user_id``) or a
``forum_post`` (a thread with its starter message in the forum ``channel_id``; the payload holds
the thread's name and tag ids). File attachments live in ``outbox_attachments`` (bytes, read
only by the sender) and are deleted as soon as their row is settled (sent, failed, cancelled or
expired): the database keeps no copy of a file that is already on Discord.

The sender's queries (due rows, rows left in ``sending``) span every guild by design; every
other query filters by ``guild_id``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from bot.store.contract import PersonRows, TablesRepository, delete_rows_in
from bot.store.rows import Records, row_mapper
from bot.store.sql import Dialect, Sql
from bot.store.times import maybe_from_db_time, maybe_to_db_time, to_db_time

__all__ = [
    "OUTBOX_STATES",
    "DmChannelRepository",
    "NewOutboxRow",
    "OccasionOverride",
    "OccasionRepository",
    "OutboxAttachment",
    "OutboxEntry",
    "OutboxMessage",
    "OutboxRepository",
    "OutboxRow",
    "OutboxState",
    "OutboxTarget",
    "SendingPause",
]

OutboxState = Literal["pending", "sending", "sent", "failed", "cancelled", "expired"]
OUTBOX_STATES: Final = ("pending", "sending", "sent", "failed", "cancelled", "expired")
OutboxTarget = Literal["message", "forum_post"]
_ERROR_MAX: Final = 300
#: Discord's limit for one message's files together (10 MiB for bots without boosts).
ATTACHMENTS_MAX_BYTES: Final = 10 * 1024 * 1024
# Bytes of rows that are settled are not kept (see the module docstring).
_DROP_SETTLED_ATTACHMENTS: Final = (
    "DELETE FROM outbox_attachments WHERE outbox_id IN (SELECT a.outbox_id FROM "
    "outbox_attachments AS a JOIN outbox AS o ON o.id = a.outbox_id "
    "WHERE o.state NOT IN ('pending', 'sending'))"
)


@dataclass(frozen=True)
class OutboxMessage:
    """What is sent: text, embeds (dicts as discord.Embed.to_dict() gives), an optional
    registered persistent view (by key, with string arguments) and who may be pinged (users,
    and roles such as an opt-in alerts role). ``thread_name`` and ``tag_ids`` are for a forum
    post (the thread's title and the forum tags applied to it)."""

    content: str | None = None
    embeds: tuple[dict[str, Any], ...] = ()
    view_key: str | None = None
    view_args: tuple[str, ...] = ()
    mention_user_ids: tuple[int, ...] = ()
    mention_role_ids: tuple[int, ...] = ()
    thread_name: str | None = None
    tag_ids: tuple[int, ...] = ()

    def to_json(self) -> str:
        raw: dict[str, Any] = {
            "content": self.content,
            "embeds": list(self.embeds),
            "view_key": self.view_key,
            "view_args": list(self.view_args),
            "mention_user_ids": list(self.mention_user_ids),
        }
        # Only when used, so rows written before these existed read back the same.
        if self.mention_role_ids:
            raw["mention_role_ids"] = list(self.mention_role_ids)
        if self.thread_name is not None:
            raw["thread_name"] = self.thread_name
        if self.tag_ids:
            raw["tag_ids"] = list(self.tag_ids)
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OutboxMessage:
        raw = json.loads(text)
        return cls(
            content=raw.get("content"),
            embeds=tuple(raw.get("embeds") or ()),
            view_key=raw.get("view_key"),
            view_args=tuple(str(a) for a in raw.get("view_args") or ()),
            mention_user_ids=tuple(int(u) for u in raw.get("mention_user_ids") or ()),
            mention_role_ids=tuple(int(r) for r in raw.get("mention_role_ids") or ()),
            thread_name=raw.get("thread_name"),
            tag_ids=tuple(int(t) for t in raw.get("tag_ids") or ()),
        )

    def preview(self) -> str:
        if self.content:
            return self.content
        for embed in self.embeds:
            text = embed.get("description") or embed.get("title")
            if text:
                return str(text)
        return ""


@dataclass(frozen=True)
class OutboxAttachment:
    """One file sent with a row (the digest's CSV and chart)."""

    filename: str
    data: bytes
    description: str | None = None

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename or "\\" in self.filename:
            raise ValueError("an attachment needs a plain file name")


@dataclass(frozen=True, kw_only=True)
class OutboxEntry:
    """What a row queues, as queued (:class:`NewOutboxRow`) and as stored (:class:`OutboxRow`):
    its key, where it goes, what it says and when it may go."""

    guild_id: int
    kind: str
    dedupe_key: str
    message: OutboxMessage
    not_before: datetime
    cohort_id: int = 0
    channel_id: int | None = None
    user_id: int | None = None
    expires_at: datetime | None = None
    target: OutboxTarget = "message"


@dataclass(frozen=True, kw_only=True)
class NewOutboxRow(OutboxEntry):
    attachments: tuple[OutboxAttachment, ...] = ()

    def __post_init__(self) -> None:
        if (self.channel_id is None) == (self.user_id is None):
            raise ValueError("an outbox row goes to exactly one of channel_id or user_id")
        if not self.kind or not self.dedupe_key:
            raise ValueError("kind and dedupe_key must not be empty")
        if self.target == "forum_post" and (
            self.channel_id is None or not self.message.thread_name
        ):
            raise ValueError("a forum post needs a forum channel_id and a thread_name")
        if sum(len(a.data) for a in self.attachments) > ATTACHMENTS_MAX_BYTES:
            raise ValueError("the attachments are larger than Discord accepts for one message")


@dataclass(frozen=True, kw_only=True)
class OutboxRow(OutboxEntry):
    """A stored row: its entry, and how far it got (its files are read on their own)."""

    id: int
    state: OutboxState
    attempts: int
    last_error: str | None
    message_id: int | None
    sent_channel_id: int | None
    created_at: datetime
    claimed_at: datetime | None
    sent_at: datetime | None
    #: which sender run claimed it (see :class:`bot.outbox.sender.Claimant`); None before
    claimed_by: str | None = None


# The payload column holds the message as JSON.
_row = row_mapper(
    OutboxRow, columns={"message": "payload"}, convert={"message": OutboxMessage.from_json}
)


@dataclass(frozen=True)
class SendingPause:
    guild_id: int
    reason: str
    channel_id: int | None
    paused_at: datetime
    notified: bool


_PAUSES = Records("outbox_pauses", row_mapper(SendingPause))

#: The PostgreSQL NOTIFY channel a commit that queued rows signals (every cluster member
#: listens on it to wake its sender).
OUTBOX_NOTIFY_CHANNEL = "cohortbot_outbox"

_INSERT = (
    "INSERT INTO outbox (guild_id, cohort_id, kind, dedupe_key, channel_id, user_id, payload, "
    "not_before, expires_at, created_at, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (guild_id, kind, dedupe_key) DO NOTHING RETURNING id"
)
# Several processes may drain one PostgreSQL outbox: SKIP LOCKED lets each take rows no other
# claim holds instead of waiting for it (and then finding them gone). SQLite has one writer.
_CLAIM_SQL = (
    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_at = ?1, "
    "claimed_by = ?4 WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' "
    "AND not_before <= ?2 AND guild_id NOT IN (SELECT guild_id FROM outbox_pauses) "
    "ORDER BY not_before, id LIMIT ?3) AND state = 'pending' RETURNING *"
)
# On PostgreSQL the pick is a MATERIALIZED CTE, evaluated exactly once: as an IN (subquery)
# the planner may rescan it per outer row, and each rescan of SKIP LOCKED can pick other rows,
# so one claim could take more than ``limit`` rows.
_CLAIM_PG = (
    "WITH picked AS MATERIALIZED (SELECT id FROM outbox WHERE state = 'pending' "
    "AND not_before <= ?2 AND guild_id NOT IN (SELECT guild_id FROM outbox_pauses) "
    "ORDER BY not_before, id LIMIT ?3 FOR UPDATE SKIP LOCKED) "
    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_at = ?1, "
    "claimed_by = ?4 FROM picked WHERE outbox.id = picked.id AND outbox.state = 'pending' "
    "RETURNING outbox.*"
)
_CLAIM = Sql(sqlite=_CLAIM_SQL, postgresql=_CLAIM_PG)
_INSERT_ATTACHMENT = (
    "INSERT INTO outbox_attachments (guild_id, outbox_id, position, filename, description, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _ERROR_MAX:
        return text
    return text[: _ERROR_MAX - 1] + "…"


class OutboxRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ("outbox",)
    # outbox_attachments: transient file bytes of queued channel posts (dropped once the row is
    # settled; erased with their row, and a DM row is erased with its person). A guild's are
    # gone with its outbox rows (ON DELETE CASCADE).
    non_personal_tables: tuple[str, ...] = ("outbox_pauses", "outbox_attachments")

    exported = (
        PersonRows("outbox", "id, kind, state, payload, not_before, sent_at", order_by="id"),
    )

    @property
    def dialect(self) -> Dialect:
        """The store's SQL dialect (the service paces its sender by it)."""
        return self._db.dialect

    # ------------------------------------------------------------------ queueing

    async def enqueue_many(
        self, rows: Sequence[NewOutboxRow], *, now: datetime
    ) -> list[int | None]:
        """Insert rows in one transaction; each result is the new id, or None for a duplicate."""
        ids: list[int | None] = []
        created = to_db_time(now)
        async with self._db.transaction() as conn:
            for new in rows:
                cursor = await conn.execute(
                    _INSERT,
                    (
                        new.guild_id,
                        new.cohort_id,
                        new.kind,
                        new.dedupe_key,
                        new.channel_id,
                        new.user_id,
                        new.message.to_json(),
                        to_db_time(new.not_before),
                        maybe_to_db_time(new.expires_at),
                        created,
                        new.target,
                    ),
                )
                inserted = await cursor.fetchone()
                await cursor.close()
                row_id = None if inserted is None else int(inserted["id"])
                ids.append(row_id)
                if row_id is None:
                    continue
                for position, attachment in enumerate(new.attachments):
                    await conn.execute(
                        _INSERT_ATTACHMENT,
                        (
                            new.guild_id,
                            row_id,
                            position,
                            attachment.filename,
                            attachment.description,
                            attachment.data,
                        ),
                    )
            if self._db.dialect == "postgresql" and any(i is not None for i in ids):
                # Wakes every cluster member's sender at the commit, not at its next poll.
                await conn.execute("SELECT pg_notify(?, '')", (OUTBOX_NOTIFY_CHANNEL,))
        return ids

    async def attachments(self, guild_id: int, row_id: int) -> list[OutboxAttachment]:
        rows = await self._db.fetchall(
            "SELECT filename, description, data FROM outbox_attachments "
            "WHERE guild_id = ? AND outbox_id = ? ORDER BY position",
            (guild_id, row_id),
        )
        return [
            OutboxAttachment(str(r["filename"]), bytes(r["data"]), r["description"]) for r in rows
        ]

    async def matched_message_ids(self, candidates: Sequence[int]) -> set[int]:
        """Those of ``candidates`` (message or forum thread ids) that a row already recorded as
        its own, in any guild: a student's DM channel is shared by every server."""
        found: set[int] = set()
        ids = list(dict.fromkeys(int(c) for c in candidates))
        for start in range(0, len(ids), 500):  # below SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            rows = await self._db.fetchall(
                f"SELECT message_id FROM outbox WHERE message_id IN "
                f"({','.join('?' for _ in chunk)})",
                chunk,
            )
            found.update(int(r["message_id"]) for r in rows)
        return found

    async def get(self, guild_id: int, row_id: int) -> OutboxRow | None:
        row = await self._db.fetchone(
            "SELECT * FROM outbox WHERE guild_id = ? AND id = ?", (guild_id, row_id)
        )
        return None if row is None else _row(row)

    async def by_dedupe_key(self, guild_id: int, kind: str, dedupe_key: str) -> OutboxRow | None:
        row = await self._db.fetchone(
            "SELECT * FROM outbox WHERE guild_id = ? AND kind = ? AND dedupe_key = ?",
            (guild_id, kind, dedupe_key),
        )
        return None if row is None else _row(row)

    async def exists(self, guild_id: int, kind: str, dedupe_key: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM outbox WHERE guild_id = ? AND kind = ? AND dedupe_key = ?",
            (guild_id, kind, dedupe_key),
        )
        return row is not None

    # ------------------------------------------------------------------ the sender

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        *,
        claimed_at: datetime | None = None,
        claimed_by: str | None = None,
    ) -> list[OutboxRow]:
        """Claim up to ``limit`` due rows of unpaused guilds: they become ``sending``.

        ``claimed_at`` (default: the real time now, not the course clock) is compared with
        Discord's message times when a restart reconciles the row, so it is wall-clock time.
        ``claimed_by`` names the sender run that claims them (``Claimant.label``).
        """
        stamp = to_db_time(now)
        claim_stamp = to_db_time(claimed_at or datetime.now(UTC))
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET state = 'expired', last_error = 'not sent before it expired' "
                "WHERE state = 'pending' AND expires_at IS NOT NULL AND expires_at < ?",
                (stamp,),
            )
            cursor = await conn.execute(
                _CLAIM.pick(self._db.dialect), (claim_stamp, stamp, limit, claimed_by)
            )
            rows = await cursor.fetchall()
            await cursor.close()
            await conn.execute(_DROP_SETTLED_ATTACHMENTS)
        return sorted((_row(r) for r in rows), key=lambda r: (r.not_before, r.id))

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending row of an unpaused guild falls due (None: nothing queued)."""
        row = await self._db.fetchone(
            "SELECT MIN(not_before) AS due FROM outbox WHERE state = 'pending' "
            "AND guild_id NOT IN (SELECT guild_id FROM outbox_pauses)"
        )
        return None if row is None or row["due"] is None else maybe_from_db_time(row["due"])

    async def left_sending(self) -> list[OutboxRow]:
        """Rows a sender left claimed (every guild), oldest first: to reconcile."""
        rows = await self._db.fetchall("SELECT * FROM outbox WHERE state = 'sending' ORDER BY id")
        return [_row(r) for r in rows]

    async def take_over(
        self, row: OutboxRow, *, now: datetime, claimed_by: str | None = None
    ) -> bool:
        """Renew the claim on ``row`` (expired, or an earlier run's of this member) for this
        process; True for the one process that did (it settles the row; any other leaves it
        alone). The caller still matches history against the claim it read (``row``)."""
        if row.claimed_at is None:
            return False
        changed = await self._db.execute_write(
            "UPDATE outbox SET claimed_at = ?, claimed_by = ? WHERE id = ? "
            "AND state = 'sending' AND claimed_at = ?",
            (to_db_time(now), claimed_by, row.id, maybe_to_db_time(row.claimed_at)),
        )
        return changed == 1

    async def mark_sent(
        self, row_id: int, *, message_id: int, channel_id: int, now: datetime
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET state = 'sent', message_id = ?, sent_channel_id = ?, "
                "sent_at = ?, last_error = NULL WHERE id = ? AND state = 'sending'",
                (message_id, channel_id, to_db_time(now), row_id),
            )
            await conn.execute("DELETE FROM outbox_attachments WHERE outbox_id = ?", (row_id,))

    async def mark_failed(self, row_id: int, error: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET state = 'failed', last_error = ? "
                "WHERE id = ? AND state = 'sending'",
                (_clip(error), row_id),
            )
            await conn.execute("DELETE FROM outbox_attachments WHERE outbox_id = ?", (row_id,))

    async def release(
        self,
        row_id: int,
        *,
        not_before: datetime,
        error: str | None,
        count_attempt: bool = True,
    ) -> None:
        """Back to ``pending`` (retry at ``not_before``); a rate limit is not an attempt."""
        await self._db.execute_write(
            "UPDATE outbox SET state = 'pending', not_before = ?, last_error = ?, "
            "attempts = attempts - ? WHERE id = ? AND state = 'sending'",
            (to_db_time(not_before), _clip(error), 0 if count_attempt else 1, row_id),
        )

    # ------------------------------------------------------------------ instructors

    async def counts(self, guild_id: int) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT state, COUNT(*) AS n FROM outbox WHERE guild_id = ? GROUP BY state",
            (guild_id,),
        )
        return {str(r["state"]): int(r["n"]) for r in rows}

    async def list_state(
        self, guild_id: int, state: OutboxState, limit: int = 25
    ) -> list[OutboxRow]:
        rows = await self._db.fetchall(
            "SELECT * FROM outbox WHERE guild_id = ? AND state = ? ORDER BY id DESC LIMIT ?",
            (guild_id, state, limit),
        )
        return [_row(r) for r in rows]

    async def pending_before(self, guild_id: int, end: datetime) -> list[OutboxRow]:
        """Pending rows due before ``end`` (overdue ones included), soonest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM outbox WHERE guild_id = ? AND state = 'pending' "
            "AND not_before < ? ORDER BY not_before, id",
            (guild_id, to_db_time(end)),
        )
        return [_row(r) for r in rows]

    async def cancel(self, guild_id: int, row_ids: Sequence[int], reason: str) -> int:
        if not row_ids:
            return 0
        marks = ",".join("?" for _ in row_ids)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                f"UPDATE outbox SET state = 'cancelled', last_error = ? WHERE guild_id = ? "
                f"AND state = 'pending' AND id IN ({marks})",
                (_clip(reason), guild_id, *row_ids),
            )
            changed = cursor.rowcount
            await cursor.close()
            await conn.execute(_DROP_SETTLED_ATTACHMENTS)
        return changed

    async def cancel_where(
        self, guild_id: int, *, cohort_id: int | None, kind_prefix: str, reason: str
    ) -> int:
        """Cancel every pending row of a kind (prefix, e.g. "nudge:") for a cohort or guild."""
        sql = (
            "UPDATE outbox SET state = 'cancelled', last_error = ? WHERE guild_id = ? "
            "AND state = 'pending' AND kind LIKE ? ESCAPE '\\'"
        )
        pattern = kind_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params: list[Any] = [_clip(reason), guild_id, pattern]
        if cohort_id is not None:
            sql += " AND cohort_id = ?"
            params.append(cohort_id)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(sql, params)
            changed = cursor.rowcount
            await cursor.close()
            await conn.execute(_DROP_SETTLED_ATTACHMENTS)
        return changed

    async def replace_message(self, guild_id: int, row_id: int, message: OutboxMessage) -> bool:
        changed = await self._db.execute_write(
            "UPDATE outbox SET payload = ? WHERE guild_id = ? AND id = ? AND state = 'pending'",
            (message.to_json(), guild_id, row_id),
        )
        return changed == 1

    # ------------------------------------------------------------------ pauses

    async def pause(
        self, guild_id: int, *, reason: str, channel_id: int | None, now: datetime
    ) -> bool:
        """Pause a guild's sending; True when it was not paused before."""
        changed = await self._db.execute_write(
            "INSERT INTO outbox_pauses (guild_id, reason, channel_id, paused_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO NOTHING",
            (guild_id, _clip(reason), channel_id, to_db_time(now)),
        )
        return changed == 1

    async def mark_pause_notified(self, guild_id: int) -> bool:
        """True for the one caller that flips the flag (so the instructor is told once)."""
        changed = await self._db.execute_write(
            "UPDATE outbox_pauses SET notified = 1 WHERE guild_id = ? AND notified = 0",
            (guild_id,),
        )
        return changed == 1

    async def paused(self, guild_id: int) -> SendingPause | None:
        return await _PAUSES.one(self._db, "guild_id = ?", guild_id)

    async def resume(self, guild_id: int) -> bool:
        changed = await self._db.execute_write(
            "DELETE FROM outbox_pauses WHERE guild_id = ?", (guild_id,)
        )
        return changed == 1

    # ------------------------------------------------------------------ data contract

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM outbox_attachments WHERE guild_id = ? AND outbox_id IN "
                "(SELECT id FROM outbox WHERE guild_id = ? AND user_id = ?)",
                (guild_id, guild_id, user_id),
            )
            await delete_rows_in(conn, guild_id, user_id, self.personal_tables)


@dataclass(frozen=True)
class OccasionOverride:
    item_key: str
    action: Literal["skip", "edit"]
    body: str | None
    updated_by: int | None
    updated_at: datetime


class OccasionRepository(TablesRepository):
    """One-off skips and text edits of upcoming occasions (``/course upcoming``)."""

    personal_tables: tuple[str, ...] = ("occasion_overrides",)

    exported = (
        PersonRows("occasion_overrides", "item_key, action, updated_at", person="updated_by"),
    )

    async def set(
        self,
        guild_id: int,
        item_key: str,
        action: Literal["skip", "edit"],
        body: str | None,
        *,
        updated_by: int,
        now: datetime,
    ) -> None:
        await self._db.upsert(
            "occasion_overrides",
            {"guild_id": guild_id, "item_key": item_key},
            {
                "action": action,
                "body": body,
                "updated_by": updated_by,
                "updated_at": to_db_time(now),
            },
        )

    async def get(self, guild_id: int, item_key: str) -> OccasionOverride | None:
        return await _OVERRIDES.one(self._db, "guild_id = ? AND item_key = ?", guild_id, item_key)

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        # The override belongs to the course; only the editor's identity is personal.
        await self._db.execute_write(
            "UPDATE occasion_overrides SET updated_by = NULL WHERE guild_id = ? AND updated_by = ?",
            (guild_id, user_id),
        )


_OVERRIDES = Records("occasion_overrides", row_mapper(OccasionOverride))


class DmChannelRepository(TablesRepository):
    """Each student's DM channel id (opened once) and the mark that their DMs are closed."""

    personal_tables: tuple[str, ...] = ("dm_channels",)

    exported = (PersonRows("dm_channels", "dm_channel_id, dm_closed_at"),)

    async def dm_channel_id(self, guild_id: int, user_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT dm_channel_id FROM dm_channels WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return None if row is None or row["dm_channel_id"] is None else int(row["dm_channel_id"])

    async def is_dm_closed(self, guild_id: int, user_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM dm_channels WHERE guild_id = ? AND user_id = ? "
            "AND dm_closed_at IS NOT NULL",
            (guild_id, user_id),
        )
        return row is not None

    async def save_dm_channel(self, guild_id: int, user_id: int, channel_id: int) -> None:
        await self._db.execute_write(
            "INSERT INTO dm_channels (guild_id, user_id, dm_channel_id) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_channel_id = excluded.dm_channel_id",
            (guild_id, user_id, channel_id),
        )

    async def save_dm_channels(self, guild_id: int, pairs: Sequence[tuple[int, int]]) -> None:
        """(user_id, channel_id) pairs in one transaction (used to warm the cache in bulk)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO dm_channels (guild_id, user_id, dm_channel_id) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
                "dm_channel_id = excluded.dm_channel_id",
                [(guild_id, u, c) for u, c in pairs],
            )

    async def mark_dm_closed(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """True when the mark is new (so callers report it once)."""
        changed = await self._db.execute_write(
            "INSERT INTO dm_channels (guild_id, user_id, dm_closed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_closed_at = excluded.dm_closed_at "
            "WHERE dm_channels.dm_closed_at IS NULL",
            (guild_id, user_id, to_db_time(now)),
        )
        return changed == 1

    async def clear_dm_closed(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "UPDATE dm_channels SET dm_closed_at = NULL WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )

    async def dm_closed_users(self, guild_id: int) -> dict[int, datetime]:
        rows = await self._db.fetchall(
            "SELECT user_id, dm_closed_at FROM dm_channels WHERE guild_id = ? "
            "AND dm_closed_at IS NOT NULL ORDER BY user_id",
            (guild_id,),
        )
        out: dict[int, datetime] = {}
        for r in rows:
            closed = maybe_from_db_time(r["dm_closed_at"])
            assert closed is not None
            out[int(r["user_id"])] = closed
        return out
