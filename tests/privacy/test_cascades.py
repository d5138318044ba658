"""The schema's ON DELETE cascades, reviewed table by table.

Erasure and Discord delete events (a message, a thread, a member leaving) remove rows that
belong to one person. If another person's row cascades from such a row, deleting one
student's post silently deletes a classmate's record — so a foreign key from a row that names
a person may never cascade from a row that names a person. Every other cascade is listed below
with the reason its parent row is never removed by erasure or a Discord delete event; a new
cascade fails this test until it is reviewed here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import close_app, open_app
from bot.clock import FakeClock
from bot.settings import Settings
from cogs.privacy.repository import PERSON_COLUMN

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)

#: (child, parent) -> why the parent row is never removed by erasure or a delete event.
REVIEWED_CASCADES: dict[tuple[str, str], str] = {
    ("cohorts", "guild_config"): "guild settings: removed only when the whole guild is purged",
    ("coffee_pulse_tallies", "coffee_pulses"): "a pulse is the server's, never a person's",
    ("coffee_pulse_respondents", "coffee_pulses"): "a pulse is the server's, never a person's",
    ("coffee_reach_outs", "coffee_pulses"): "a pulse is the server's, never a person's",
    ("coffee_circle_threads", "coffee_circles"): "a circle is removed only by an instructor",
    ("coffee_circle_members", "coffee_circles"): "a circle is removed only by an instructor",
    ("match_groups", "match_rounds"): "a round is removed only as an unposted proposal",
    ("match_members", "match_groups"): "a group is edited by staff in a proposal only",
    ("match_unmatched", "match_rounds"): "a round is removed only as an unposted proposal",
    ("prompt_answers", "prompt_posts"): "a prompt post is dropped only before it is sent",
    ("outbox_attachments", "outbox"): "the file bytes of the queued message itself",
    ("roster_codes", "roster_students"): "erasure unlinks a roster row; only retention deletes it",
}


async def schema_foreign_keys(tmp_path: Path) -> tuple[dict[str, list[str]], list[tuple]]:
    app = await open_app(Settings(database_path=tmp_path / "c.db"), clock=FakeClock(NOW))
    try:
        columns: dict[str, list[str]] = {}
        keys: list[tuple] = []
        for table in await app.db.table_names():
            info = await app.db.fetchall(f'PRAGMA table_info("{table}")')
            columns[table] = [r["name"] for r in info]
            for fk in await app.db.fetchall(f'PRAGMA foreign_key_list("{table}")'):
                keys.append((table, fk["table"], fk["from"], fk["on_delete"].upper()))
        return columns, keys
    finally:
        await close_app(app)


def names_a_person(columns: list[str]) -> bool:
    return any(PERSON_COLUMN.search(c) for c in columns)


async def test_no_persons_row_cascades_from_another_persons_row(tmp_path: Path) -> None:
    columns, keys = await schema_foreign_keys(tmp_path)
    assert keys, "the schema has foreign keys: the scan must see them"
    bad = [
        f"{child}.{column} -> {parent}"
        for child, parent, column, on_delete in keys
        if on_delete == "CASCADE" and names_a_person(columns[child])
        if names_a_person(columns[parent])
    ]
    assert not bad, f"a person's row cascades from another person's row: {bad}"


async def test_every_cascade_is_reviewed(tmp_path: Path) -> None:
    _, keys = await schema_foreign_keys(tmp_path)
    cascades = {(child, parent) for child, parent, _, on_delete in keys if on_delete == "CASCADE"}
    unreviewed = cascades - set(REVIEWED_CASCADES)
    assert not unreviewed, f"review these cascades and list them here: {sorted(unreviewed)}"
    stale = set(REVIEWED_CASCADES) - cascades
    assert not stale, f"no longer cascades (drop from the list): {sorted(stale)}"


async def test_peer_replies_reference_answers_without_cascading(tmp_path: Path) -> None:
    _, keys = await schema_foreign_keys(tmp_path)
    (reply_key,) = [k for k in keys if k[0] == "prompt_replies"]
    assert reply_key[1:] == ("prompt_answers", "answer_id", "NO ACTION")
