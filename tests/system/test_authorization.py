"""Authorization everywhere: every staff command and staff button refuses a student at run time.

Discord's default permissions hide /course and /digest from students, but an admin can change
them (Server Settings → Integrations) and Discord ignores them on subcommands. So the commands
are made visible to everyone here, and a plain student runs every leaf of the bot's command tree
(a new command is covered without editing this file) with plausible values for every option,
then clicks every staff button and select. Each answer must be the private staff-only refusal,
and nothing may change: not one database row, channel, role, member role or message.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import discord
from discord import app_commands

from cogs.nudges import NudgeEngine
from sandbox.interactions import (
    OPTION_ATTACHMENT,
    OPTION_BOOLEAN,
    OPTION_CHANNEL,
    OPTION_INTEGER,
    OPTION_MENTIONABLE,
    OPTION_NUMBER,
    OPTION_ROLE,
    OPTION_STRING,
    OPTION_SUBCOMMAND,
    InteractionRecord,
)
from sandbox.server import SandboxServer
from tests.support.commands import STAFF_GROUPS, option_definitions
from tests.support.course import Course, app_of
from tests.support.snapshots import database_snapshot, diff, sandbox_snapshot

#: What a refused student reads: the /course template, or the digest's own line.
REFUSALS = ("That command is for course staff", "Only cohort leads and instructors")


# ---------------------------------------------------------------------- the command tree


def staff_leaves(tree: app_commands.CommandTree[Any]) -> list[str]:
    """Qualified names of every leaf under /course and /digest, from the bot's own tree."""
    leaves: list[str] = []

    def walk(item: app_commands.Command[Any, ..., Any] | app_commands.Group) -> Iterator[str]:
        if isinstance(item, app_commands.Group):
            for child in item.commands:
                yield from walk(child)
        else:
            yield item.qualified_name

    for top in tree.get_commands(type=discord.AppCommandType.chat_input):
        if top.name in STAFF_GROUPS:
            leaves.extend(walk(top))  # type: ignore[arg-type]
    return sorted(leaves)


class Plausible:
    """Values a real instructor would type, so a missing check would really change things."""

    def __init__(self, course: Course, strings: dict[str, str]) -> None:
        self.course = course
        self.strings = strings

    def value(self, definition: dict[str, Any]) -> object:
        name, otype = str(definition["name"]), int(definition["type"])
        w = self.course.world
        if definition.get("choices"):
            return definition["choices"][0]["value"]
        if otype == OPTION_STRING:
            return self.strings.get(name, "Working parents")
        if otype in (OPTION_INTEGER, OPTION_NUMBER):
            low = definition.get("min_value")
            high = definition.get("max_value")
            chosen = 3 if low is None else low
            if high is not None:
                chosen = min(chosen, high)
            return float(chosen) if otype == OPTION_NUMBER else int(chosen)
        if otype == OPTION_BOOLEAN:
            return name != "dry_run"  # the variant that would write and post
        if otype == OPTION_CHANNEL:
            return w.general_channel_id  # a text channel: allowed by every channel option
        if otype == OPTION_ROLE:
            return w.student_role_id
        if otype == 6 or otype == OPTION_MENTIONABLE:  # user
            return w.student_ids[2] if name != "b" else w.student_ids[3]
        if otype == OPTION_ATTACHMENT:
            return ("prompts.csv", b"text,week\nWhat surprised you this week?,1\n")
        raise AssertionError(f"no plausible value for option type {otype} ({name})")

    def options(self, definitions: list[dict[str, Any]]) -> dict[str, object]:
        return {str(d["name"]): self.value(d) for d in definitions}


async def refused(record: InteractionRecord) -> str:
    await record.wait_final()
    text = record.text()
    final = [r for r in record.responses if r["kind"] != "deferred"]
    assert final and all(r.get("ephemeral") for r in final), (record.payload["data"], text)
    return text


# ---------------------------------------------------------------------- the tests


async def test_every_staff_command_refuses_a_student_and_changes_nothing(course: Course) -> None:
    await course.setup_course()
    s, w, gid = course.sandbox, course.world, course.guild_id
    app = app_of(course)
    bot = course.runner.bot
    assert bot is not None
    # Things the commands would act on if they ran: a queued post, a message to point at.
    coffee = s.find_channel(gid, "coffee-shop")
    assert coffee is not None
    posted = await s.send_message(coffee, w.student_ids[1], "Passed my first quiz!")
    await s.wait_for(lambda: app.activity_recorder.pending > 0)
    cohort = (await app.guild_settings.cohorts(gid))[0]
    strings = {
        "key": "staff_only",
        "name": "Section B",
        "new_name": "Parents",
        "cohort": cohort.name,
        "timezone": "Europe/Berlin",
        "time": "09:00",
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "start": "2026-09-07",
        "breaks": "2026-10-12",
        "kind": next(iter(app.services.get(NudgeEngine).kinds)),
        "message_link": f"https://discord.com/channels/{gid}/{coffee}/{posted['id']}",
    }
    plausible = Plausible(course, strings)
    student = w.student_ids[0]
    for group in STAFF_GROUPS:
        s.allow_command_for_everyone(gid, group)

    leaves = staff_leaves(bot.tree)
    # The tree and what Discord holds agree, so the loop below covers every registered leaf.
    assert "course setup" in leaves and "digest now" in leaves and len(leaves) > 30
    db_before = await database_snapshot(app)
    world_before = sandbox_snapshot(s, gid)
    refusals: dict[str, str] = {}
    for qualified in leaves:
        definitions = option_definitions(s, gid, qualified)
        assert all(d["type"] != OPTION_SUBCOMMAND for d in definitions)
        record = await s.invoke_slash(
            gid, w.general_channel_id, student, qualified, plausible.options(definitions)
        )
        refusals[qualified] = await refused(record)
    wrong = {q: t for q, t in refusals.items() if not any(r in t for r in REFUSALS)}
    assert not wrong, f"not refused as staff-only: {wrong}"
    assert diff(db_before, await database_snapshot(app, ignore_activity_of=student)) == []
    assert diff(world_before, sandbox_snapshot(s, gid)) == []


def forged_message(s: SandboxServer, channel_id: int, components: list[dict[str, Any]]) -> int:
    """A message in a public channel carrying staff components (a replayed custom_id)."""
    message = s.world.build_message(
        channel_id, s.bot_user_id, {"content": "staff tools", "components": components}
    )
    s.world.store_message(message)
    return int(message["id"])


def button(custom_id: str) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": custom_id[:80], "custom_id": custom_id}


async def test_every_staff_button_refuses_a_student_and_changes_nothing(course: Course) -> None:
    await course.setup_course()
    s, w, gid = course.sandbox, course.world, course.guild_id
    app = app_of(course)
    cohort = (await app.guild_settings.cohorts(gid))[0]
    # Real targets for the buttons: a queued post (an upcoming item), a drifting student.
    row_id = await app.outbox.enqueue(
        guild_id=gid,
        kind="test:post",
        dedupe_key="authz",
        content="A post staff may skip or edit",
        channel_id=w.general_channel_id,
        not_before=app.clock.now() + timedelta(days=1),
    )
    assert row_id is not None
    upcoming_key = f"outbox:{row_id}"
    assert await app.upcoming.find(gid, upcoming_key) is not None
    target = w.student_ids[1]
    buttons = [
        *(
            f"cohortbot:digest:{a}:{cohort.cohort_id}:{target}"
            for a in ("reach", "contacted", "excused", "clear")
        ),
        f"cohortbot:upcoming:skip:{upcoming_key}",
        f"cohortbot:upcoming:edit:{upcoming_key}",
        f"cohortbot:term:close:{cohort.cohort_id}",
        f"cohortbot:term:keep:{cohort.cohort_id}",
        f"cohortbot:match:review:{gid}:1",
    ]
    rows = [{"type": 1, "components": [button(b) for b in buttons[i : i + 5]]} for i in (0, 5)]
    picker = {
        "type": 1,
        "components": [
            {
                "type": 3,
                "custom_id": "cohortbot:upcoming:pick",
                "options": [{"label": "the post", "value": upcoming_key}],
            }
        ],
    }
    message_id = forged_message(s, w.general_channel_id, [*rows, picker])
    student = w.student_ids[0]
    db_before = await database_snapshot(app)
    world_before = sandbox_snapshot(s, gid)
    texts: dict[str, str] = {}
    for custom_id in buttons:
        click = await s.click_button(w.general_channel_id, message_id, student, custom_id)
        assert click.modal is None
        texts[custom_id] = await refused(click)
    pick = await s.select(
        w.general_channel_id, message_id, student, "cohortbot:upcoming:pick", [upcoming_key]
    )
    texts["cohortbot:upcoming:pick"] = await refused(pick)
    wrong = {c: t for c, t in texts.items() if not any(r in t for r in REFUSALS)}
    assert not wrong, f"not refused as staff-only: {wrong}"
    assert diff(db_before, await database_snapshot(app, ignore_activity_of=student)) == []
    assert diff(world_before, sandbox_snapshot(s, gid)) == []
    # And the instructor still can: the refusals were about the person, not the button.
    skip = await s.click_button(
        w.general_channel_id, message_id, w.instructor_id, f"cohortbot:upcoming:skip:{upcoming_key}"
    )
    await skip.wait_final()
    assert "Skipped" in skip.text(), skip.text()
