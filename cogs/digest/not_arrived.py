"""The digest's "enrolled, not on the server yet" part, from the course roster. Pure: no
discord, no I/O.

The names are for leads only: the part is a separate message marked as a list page, so it
stays in the (private) leads channel and is left out of DM copies; the CSV gets one row per
such student with their LMS id, so a lead can write to them through the LMS. A lead who gets
the digest by DM gets the count line only: a DM outlives the lead's role and the roster's
retention (the bot can neither purge it nor take it back), so names stay where staff control
them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from bot.text import csv_cell
from cogs.digest.rules import STUDENT_COLUMNS, MessageSpec, group_messages, pack_fields

__all__ = [
    "NOT_ARRIVED_REASON",
    "not_arrived_csv",
    "not_arrived_dm_line",
    "not_arrived_line",
    "not_arrived_messages",
]

NOT_ARRIVED_REASON = "enrolled, not on the server yet"


def not_arrived_line(count: int, new: int) -> str:
    return f"Enrolled, not on the server yet: {count} ({new} new this week)"


def not_arrived_dm_line(count: int, new: int) -> str:
    """The DM copy's line: the numbers, no names (those are in the leads channel)."""
    return f"{not_arrived_line(count, new)} — the names are in the leads channel."


def not_arrived_messages(
    count: int, new: int, people: Sequence[tuple[str, str]]
) -> list[MessageSpec]:
    """``people`` are (name, LMS id). One or more list-page messages for the leads channel."""
    names = "\n".join(f"• {name}" for name, _ in people)
    embeds = pack_fields(
        not_arrived_line(count, new),
        (names + "\n\n" if names else "")
        + "Their LMS ids are in the CSV: write to them through the LMS.",
        [],
    )
    return [
        MessageSpec(content=m.content, embeds=m.embeds, list_page=True)
        for m in group_messages(embeds)
    ]


def not_arrived_csv(data: bytes, people: Sequence[tuple[str, str]]) -> bytes:
    """The digest CSV with a row per student not on the server yet: the name, no user id,
    the LMS id in ``needs_attention`` (the file keeps its columns)."""
    if not people:
        return data
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    empty = [""] * len(STUDENT_COLUMNS)
    name_at, reason_at = STUDENT_COLUMNS.index("name"), STUDENT_COLUMNS.index("needs_attention")
    for name, lms_id in people:
        row = list(empty)
        row[name_at] = csv_cell(name)
        row[reason_at] = csv_cell(f"{NOT_ARRIVED_REASON} (LMS id {lms_id})")
        writer.writerow(row)
    return data + buffer.getvalue().encode("utf-8")
