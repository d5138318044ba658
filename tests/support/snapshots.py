"""Snapshots of everything the bot could change, to prove that something changed nothing."""

from __future__ import annotations

import json
from typing import Any

from bot.app import AppContext
from sandbox.server import SandboxServer

#: Rows a refused student may add: the use of a command or button is activity (not a change).
#: Rows a refused student may add: none. A refused command, button press or form counts as
#: nothing (cogs/activity.py, counts_as_participation).
OWN_USE: tuple[str, ...] = ()


async def database_snapshot(
    app: AppContext, ignore_activity_of: int | None = None, own_use: tuple[str, ...] = OWN_USE
) -> dict[str, Any]:
    """Every row of every table, as sorted JSON text per table (buffered activity flushed)."""
    await app.activity_recorder.flush()
    snapshot: dict[str, Any] = {}
    for table in await app.db.table_names():
        rows = [dict(r) for r in await app.db.fetchall(f'SELECT * FROM "{table}"')]
        if table == "activity" and ignore_activity_of is not None:
            rows = [
                r for r in rows if not (r["user_id"] == ignore_activity_of and r["kind"] in own_use)
            ]
        snapshot[table] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return snapshot


def sandbox_snapshot(s: SandboxServer, guild_id: int) -> dict[str, Any]:
    """Channels, threads (and their members), roles, members' roles, every public message."""
    w = s.world
    guild = w.guild(guild_id)
    return {
        "channels": sorted(json.dumps(c, sort_keys=True) for c in s.channels_in(guild_id)),
        "threads": sorted(
            json.dumps({**t, "members": sorted(s.thread_members(int(t["id"])))}, sort_keys=True)
            for t in s.threads_in(guild_id)
        ),
        "roles": sorted(json.dumps(r, sort_keys=True) for r in s.roles_in(guild_id)),
        "member_roles": {uid: sorted(m.roles) for uid, m in guild.members.items()},
        "messages": {
            mid: json.dumps(msg, sort_keys=True, default=str)
            for mid, msg in w.messages.items()
            if mid not in w.ephemeral_to
        },
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [key for key in before.keys() | after.keys() if before.get(key) != after.get(key)]
