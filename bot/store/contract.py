"""The data contract: every repository that stores something about a person can export and
erase it, so a feature cannot forget privacy. A test checks every table is covered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class PersonalDataRepository(Protocol):
    #: Tables whose rows can be about a person; export_user/delete_user cover them.
    personal_tables: tuple[str, ...]

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every row about the user in this guild, by table name."""
        ...

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        """Erase (or anonymise, where other people's records depend on it) the user's rows."""
        ...


@runtime_checkable
class KeepsPastRetention(Protocol):
    """A repository holding something its person asked to keep past their cohort's retention
    (e.g. a mentor's offer): retention calls this instead of ``delete_user`` and it erases
    everything else. A person's own deletion request still calls ``delete_user``."""

    async def retention_purge(self, guild_id: int, user_id: int) -> None: ...


def row_to_dict(row: Any) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row is not a dict


@dataclass(frozen=True)
class Redaction:
    """A bot post or thread that keeps serving other people but names an erased person:
    erasure edits it instead of deleting it. ``content`` and ``embed`` (Discord's embed JSON)
    replace the message ``message_id``; ``thread_name`` renames the thread ``channel_id``
    (``message_id`` None)."""

    channel_id: int
    message_id: int | None
    content: str | None = None
    embed: dict[str, Any] | None = None
    thread_name: str | None = None


@runtime_checkable
class PostsToRedact(Protocol):
    """A repository that knows which of the bot's posts to edit when a person is erased."""

    async def posts_to_redact(self, guild_id: int, user_id: int) -> list[Redaction]: ...
