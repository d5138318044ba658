"""Hostile input: every leaf command, as a student and as an instructor, with hostile values.

The leaves come from the bot's own command tree (a new command is covered without editing this
file). Each option gets, per value set, a hostile value for its type: over-long, empty and
zero-width strings, right-to-left overrides, ``@everyone`` and mention syntax, impossible and
extreme dates and times, made-up time zones and paths, negative and 20-digit numbers, the
bot, another bot and a non-member as users, @everyone and the bot's own role as roles, a
channel the bot cannot see, and oversized, malformed, deeply nested and empty files.

For every call: the bot acknowledges it within Discord's 3 seconds (measured on the sandbox's
interaction record), answers clearly (text or a form; never "something went wrong"), every
answer fits Discord's limits without being cut by the last-resort guard, and nothing logs a
traceback. A student's calls to staff commands change no table at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.ui import UNEXPECTED_ERROR_TEXT
from sandbox.interactions import (
    OPTION_ATTACHMENT,
    OPTION_BOOLEAN,
    OPTION_CHANNEL,
    OPTION_INTEGER,
    OPTION_MENTIONABLE,
    OPTION_NUMBER,
    OPTION_ROLE,
    OPTION_STRING,
    OPTION_USER,
    InteractionRecord,
)
from sandbox.world import FORUM, NEWS
from tests.support.commands import STAFF_GROUPS, option_definitions
from tests.support.course import Course, app_of
from tests.support.snapshots import database_snapshot, diff

#: Discord's bound: an interaction not acknowledged within 3 s fails for the person.
ACK_SECONDS = 3.0
#: How many value sets each leaf runs with, per role.
VALUE_SETS = 5
#: Commands that reshape the server for the calls after them run last.
LAST = ("privacy delete", "course close-term", "course cohort remove", "course setup")

LONG = "W" * 2500
ZERO_WIDTH = "\u200b\u200b\u2060"
TWENTY_DIGITS = "98765432109876543210"
VIEW_CHANNEL = 1 << 10


def leaves(tree: app_commands.CommandTree[Any]) -> list[str]:
    """Qualified names of every slash-command leaf in the bot's tree."""
    found: list[str] = []

    def walk(item: app_commands.Command[Any, ..., Any] | app_commands.Group) -> Iterator[str]:
        if isinstance(item, app_commands.Group):
            for child in item.commands:
                yield from walk(child)
        else:
            yield item.qualified_name

    for top in tree.get_commands(type=discord.AppCommandType.chat_input):
        found.extend(walk(top))  # type: ignore[arg-type]
    rank = {name: i for i, name in enumerate(LAST)}
    return sorted(found, key=lambda q: (rank.get(q, -1), q))


class Hostile:
    """The hostile value of value set ``k`` for an option definition."""

    def __init__(self, course: Course) -> None:
        s, w, gid = course.sandbox, course.world, course.guild_id
        self.course = course
        mention = (
            f"\u202eevil\u202c @everyone @here <@{w.instructor_id}> <@&{w.student_role_id}> "
            f"<#{w.general_channel_id}> **bold** `code` ||spoiler|| [x](https://example.com)"
        )
        self.strings = {
            "date": ["2026-02-30", "9999-12-31", LONG, "0001-01-01", mention],
            "time": ["25:61", "24:00", LONG, ZERO_WIDTH, mention],
            "timezone": ["EST", "Mars/Olympus", "../../etc/passwd", LONG, mention],
            "link": [
                f"https://discord.com/channels/{TWENTY_DIGITS}/{TWENTY_DIGITS}/{TWENTY_DIGITS}",
                f"https://discord.com/channels/{gid}/{w.general_channel_id}/{TWENTY_DIGITS}",
                LONG,
                mention,
                f"https://discord.com/channels/{gid}/{w.general_channel_id}/-1",
            ],
            "other": [LONG, "", f"{ZERO_WIDTH}{mention}", "-1", TWENTY_DIGITS],
        }
        other_bot = s.create_user("Other Bot", bot=True)
        stranger = s.create_user("Not A Member")
        self.users = [s.bot_user_id, other_bot, stranger, w.student_ids[0], w.instructor_id]
        self.roles = [gid, w.bot_role_id, w.student_role_id, gid, w.bot_role_id]
        hidden = s.create_channel(
            gid,
            "staff-secrets",
            overwrites=[{"id": w.bot_role_id, "type": 0, "allow": 0, "deny": VIEW_CHANNEL}],
        )
        forum = s.create_channel(gid, "hostile-forum", type=FORUM)
        news = s.create_channel(gid, "announcements", type=NEWS)
        self.channels = [hidden, forum, news, w.general_channel_id]
        nested = b"[" * 100_000 + b"]" * 100_000
        self.files: list[tuple[str, bytes]] = [
            ("prompts.csv", b"text,week\n" + b"a" * (300 * 1024)),
            ("prompts.json", nested),
            ("empty.csv", b""),
            ("prompts.json", b"\xff\xfe\x00\x81 not json {"),
            (
                "x" * 200 + ".csv",
                "text,week\n@everyone <@&1> \u202e,99999999999999999999\n".encode(),
            ),
        ]

    @staticmethod
    def category(name: str) -> str:
        if name in ("start", "breaks", "until"):
            return "date"
        if name in ("time", "quiet_start", "quiet_end", "batch_time"):
            return "time"
        if name == "timezone":
            return "timezone"
        if name == "message_link":
            return "link"
        return "other"

    def value(self, definition: dict[str, Any], k: int) -> object:
        name, otype = str(definition["name"]), int(definition["type"])
        if definition.get("choices"):
            choices = definition["choices"]
            return choices[k % len(choices)]["value"]
        if otype == OPTION_STRING:
            text = self.strings[self.category(name)][k % VALUE_SETS]
            # The Discord client enforces the declared lengths; within them, anything goes.
            low, high = definition.get("min_length"), definition.get("max_length")
            if high is not None:
                text = text[: int(high)]
            if low is not None and len(text) < int(low):
                text = text.ljust(int(low), "9")
            return text
        if otype in (OPTION_INTEGER, OPTION_NUMBER):
            low = definition.get("min_value")
            high = definition.get("max_value")
            lowest = -(2**53) + 1 if low is None else low
            highest = 2**53 - 1 if high is None else high
            # The extremes Discord lets through, and a plain negative where nothing stops it.
            extremes = [lowest, highest, -1 if low is None else low, 0, highest]
            extremes[3] = max(lowest, min(highest, 0))
            chosen = extremes[k % len(extremes)]
            return float(chosen) if otype == OPTION_NUMBER else int(chosen)
        if otype == OPTION_BOOLEAN:
            return k % 2 == 0
        if otype in (OPTION_USER, OPTION_MENTIONABLE):
            return self.users[k % len(self.users)]
        if otype == OPTION_ROLE:
            return self.roles[k % len(self.roles)]
        if otype == OPTION_CHANNEL:
            allowed = definition.get("channel_types")
            pool = [
                c
                for c in self.channels
                if not allowed or self.course.sandbox.world.channel(c).type in allowed
            ]
            return pool[k % len(pool)]
        if otype == OPTION_ATTACHMENT:
            return self.files[k % len(self.files)]
        raise AssertionError(f"no hostile value for option type {otype} ({name})")

    def options(self, definitions: list[dict[str, Any]], k: int) -> dict[str, object]:
        # A hostile cohort name or break list stops a command before its other checks: odd
        # sets leave such optional strings out, so the other values reach what is behind them.
        return {
            str(d["name"]): self.value(d, k)
            for d in definitions
            if not (k % 2 and self.skippable(d))
        }

    def skippable(self, definition: dict[str, Any]) -> bool:
        return (
            not definition.get("required")
            and int(definition["type"]) == OPTION_STRING
            and not definition.get("choices")
            and self.category(str(definition["name"])) in ("other", "date")
        )


class Shortened(logging.Handler):
    """Warnings from the last-resort reply guard: an echo that was not bounded at its source."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "over Discord's limits" in message or record.exc_info:
            self.lines.append(f"{record.name}: {message}")


async def problems_of(record: InteractionRecord) -> list[str]:
    """What is wrong with how the bot answered one call (empty when it answered well)."""
    try:
        await record.wait_final()
    except TimeoutError:
        return ["no answer within 5 s"]
    problems: list[str] = []
    first = record.responses[0]
    waited = float(first["at"]) - record.dispatched_at
    if waited > ACK_SECONDS:
        problems.append(f"acknowledged after {waited:.1f} s")
    text = record.text()
    if UNEXPECTED_ERROR_TEXT in text:
        problems.append("answered 'something went wrong'")
    if not text.strip() and record.modal is None:
        files = [f for r in record.responses for f in r.get("files") or []]
        if not files:
            problems.append("an empty answer")
    return problems


async def run_batch(
    course: Course, user_id: int, names: list[str], hostile: Hostile
) -> dict[str, list[str]]:
    """Each named leaf with each value set, as ``user_id``; the problems found per call."""
    s, w, gid = course.sandbox, course.world, course.guild_id
    found: dict[str, list[str]] = {}
    for qualified in names:
        for k in range(VALUE_SETS):
            options = hostile.options(option_definitions(s, gid, qualified), k)
            record = await s.invoke_slash(gid, w.general_channel_id, user_id, qualified, options)
            problems = await problems_of(record)
            if problems:
                found[f"/{qualified} (set {k})"] = problems
    await course.runner.settle()
    return found


@pytest.fixture
def shortened() -> Iterator[Shortened]:
    handler = Shortened()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def test_every_command_answers_hostile_values_clearly(
    course: Course, shortened: Shortened
) -> None:
    await course.setup_course()
    s, w, gid = course.sandbox, course.world, course.guild_id
    app = app_of(course)
    bot = course.runner.bot
    assert bot is not None
    # Something for the commands to act on: a second cohort, a circle, a calendar.
    await course.slash(w.instructor_id, "course circle add", {"name": "Working parents"})
    await course.slash(w.instructor_id, "course calendar set", {"start": "2026-09-07", "weeks": 8})
    for group in STAFF_GROUPS:
        s.allow_command_for_everyone(gid, group)
    hostile = Hostile(course)
    names = leaves(bot.tree)
    assert "course calendar show" in names and "circle join" in names and len(names) > 60
    staff = [q for q in names if q.split()[0] in STAFF_GROUPS]
    others = [q for q in names if q not in staff]

    student = w.student_ids[0]
    await app.activity_recorder.flush()
    before = await database_snapshot(app)
    problems = await run_batch(course, student, staff, hostile)
    # Refused calls change nothing: not even activity (a refused command is no participation).
    assert diff(before, await database_snapshot(app)) == []
    problems |= await run_batch(course, student, others, hostile)
    problems |= {
        f"instructor {call}": found
        for call, found in (await run_batch(course, w.instructor_id, names, hostile)).items()
    }
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)[:6000]
    assert not shortened.lines, shortened.lines[:20]
