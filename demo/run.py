"""`cohortbot demo`: a scripted course week, offline, with the sandbox playing Discord.

It prints a readable transcript of who did what and what the bot answered. Each feature
adds its scene to SCENES as it lands.
"""

from __future__ import annotations

import logging
import tempfile
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord

from bot.app import AppContext
from bot.clock import FakeClock
from demo import (
    coffee_chats,
    coffee_shop,
    digest,
    introductions,
    mentors,
    nudges,
    prompts,
    roster,
)
from sandbox.harness import BotRunner, CourseWorld, build_course_world
from sandbox.server import InteractionRecord, SandboxServer

log = logging.getLogger("demo.run")


def render_payload(payload: dict[str, Any]) -> list[str]:
    """A message or response as plain lines: content, then each embed's text."""
    lines: list[str] = []
    if payload.get("content"):
        lines.extend(str(payload["content"]).splitlines())
    for embed in payload.get("embeds") or []:
        if embed.get("title"):
            lines.append(f"┃ {embed['title']}")
        if embed.get("description"):
            lines.extend(f"┃ {line}" for line in str(embed["description"]).splitlines())
        for fld in embed.get("fields") or []:
            lines.append(f"┃ {fld.get('name')}: {fld.get('value')}")
    for row in payload.get("components") or []:
        labels = [c.get("label") for c in row.get("components", []) if c.get("label")]
        if labels:
            lines.append("  [" + "] [".join(labels) + "]")
    for attachment in payload.get("attachments") or payload.get("files") or []:
        lines.append(f"  (attachment: {attachment.get('filename')})")
    return lines


@dataclass
class Transcript:
    world: CourseWorld
    sandbox: SandboxServer
    out: Callable[[str], None] = print
    #: the running bot, for scenes that show what a scheduled job would send
    runner: BotRunner | None = None
    #: where scenes write files (`cohortbot demo --out DIR`)
    out_dir: Path | None = None

    @property
    def app(self) -> AppContext:
        """The running bot's dependencies, for scenes that show what a scheduled job does."""
        if self.runner is None or self.runner.app is None:
            raise RuntimeError("the demo transcript has no running bot")
        return self.runner.app

    def name(self, user_id: int) -> str:
        return self.world.names.get(
            user_id, "CohortBot" if user_id == self.sandbox.bot_user_id else str(user_id)
        )

    async def settled(self) -> None:
        """Wait until the bot finished the commands it is running (all their messages sent)."""
        if self.runner is not None:
            await self.runner.settle()

    def scene(self, title: str) -> None:
        self.out("")
        self.out(f"== {title} ==")

    def action(self, user_id: int, what: str) -> None:
        self.out(f"▶ {self.name(user_id)} {what}")

    def answer(self, record: InteractionRecord) -> None:
        for response in record.responses:
            if response.get("kind") in ("deferred", "autocomplete"):
                continue
            who = (
                f"only {self.name(record.user_id)} sees this"
                if response.get("ephemeral")
                else ("in the channel")
            )
            if response.get("kind") == "modal":
                self.out(f"◀ CohortBot opens a form ({who})")
                continue
            self.out(f"◀ CohortBot ({who}):")
            for line in render_payload(response):
                self.out(textwrap.indent(line, "    "))

    def channel_post(self, channel_name: str, message: dict[str, Any]) -> None:
        author = int(message["author"]["id"])
        self.out(f"◀ #{channel_name} — {self.name(author)}:")
        for line in render_payload(message):
            self.out(textwrap.indent(line, "    "))


Scene = Callable[[Transcript], Awaitable[None]]


async def scene_setup(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("An instructor sets the course server up")
    options = {
        "create_missing": True,
        "timezone": "America/New_York",
        "student_role": w.student_role_id,
    }
    t.action(w.instructor_id, "runs /course setup create_missing:True timezone:America/New_York")
    record = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course setup", options
    )
    await record.wait_final()
    t.answer(record)
    lead_role = s.find_role(w.guild_id, "Cohort Lead")
    if lead_role is not None:
        await s.add_member_role(w.guild_id, w.lead_id, lead_role)
        t.out(f"  (the server admin gives {t.name(w.lead_id)} the @Cohort Lead role)")


async def scene_status_and_help(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("Checking in: /course status and /help")
    t.action(w.instructor_id, "runs /course status")
    record = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course status"
    )
    await record.wait_final()
    t.answer(record)
    student = w.student_ids[0]
    t.action(student, "runs /help")
    record = await s.invoke_slash(w.guild_id, w.general_channel_id, student, "help")
    await record.wait_final()
    await t.settled()  # a long list comes in two messages: print both
    t.answer(record)


async def scene_student_refused(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("A student tries an instructor command")
    s.allow_command_for_everyone(w.guild_id, "course")
    t.out("  (an admin has made /course visible to everyone in Server Settings → Integrations)")
    student = w.student_ids[1]
    t.action(student, "runs /course setup timezone:Europe/Paris")
    record = await s.invoke_slash(
        w.guild_id, w.general_channel_id, student, "course setup", {"timezone": "Europe/Paris"}
    )
    await record.wait_final()
    t.answer(record)


async def scene_dm(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("A student asks for help in a direct message")
    student = w.student_ids[2]
    dm_channel = s.dm_channel_of(student)
    t.action(student, "runs /help in a DM with the bot")
    record = await s.invoke_slash(None, dm_channel, student, "help")
    await record.wait_final()
    await t.settled()
    t.answer(record)


SCENES: list[Scene] = [
    scene_setup,
    scene_status_and_help,
    scene_student_refused,
    scene_dm,
    *introductions.SCENES,
    *coffee_shop.SCENES,
    *nudges.SCENES,
    *prompts.SCENES,
    *coffee_chats.SCENES,
    *digest.SCENES,  # the week ends with the leads' digest
    *roster.SCENES,  # the LMS roster, a student joining with a code, the digest's new line
    *mentors.SCENES,  # then the term closes and an alumna mentors the next cohort
]


#: The demo's "now": a Monday morning of the first course week (course time zone New York).
DEMO_START = datetime(2026, 9, 14, 13, 0, tzinfo=UTC)


async def run_demo(
    *,
    database_path: Path | None = None,
    out_dir: Path | None = None,
    database_url: str | None = None,
) -> int:
    """Play every scene; on SQLite (a temporary file unless ``database_path``) or, with
    ``database_url``, on that PostgreSQL database."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The demo has no voice; discord.py's optional-voice-library warnings are noise here.
    logging.getLogger("discord.client").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="cohortbot-demo-") as tmp:
        db_path = database_path or Path(tmp) / "demo.db"
        # A fixed start and predictable ids: two runs print the same transcript.
        start = DEMO_START
        first_id = discord.utils.time_snowflake(start)
        async with SandboxServer(first_id=first_id) as sandbox:
            world = await build_course_world(sandbox, students=31)
            print(
                f"CohortBot demo — a course server “{world.guild_name}” with "
                f"{len(world.student_ids)} students, an instructor and a TA (offline sandbox)"
            )
            # The demo's own clock: scenes move it (e.g. to a check-in day) instead of waiting.
            clock = FakeClock(start)
            runner = BotRunner(
                sandbox,
                db_path,
                dev_guild_id=world.guild_id,
                clock=clock,
                database_url=database_url,
            )
            bot = await runner.start()
            # As after `cohortbot sync --global`: /help also works in DMs with the bot.
            await bot.tree.sync()
            try:
                transcript = Transcript(world, sandbox, runner=runner, out_dir=out_dir)
                for scene in SCENES:
                    await scene(transcript)
            finally:
                await runner.stop()
            if sandbox.unknown_routes:
                print(f"\nThe sandbox saw requests it does not model: {sandbox.unknown_routes}")
                return 1
    print("\nDemo finished: everything above ran through the real discord.py client.")
    return 0
