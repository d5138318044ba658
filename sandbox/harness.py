"""Run the real bot against the local sandbox: shared by the demo and the integration tests.

It builds a course server in the sandbox (people, roles, channels), opens the app on a given
database file and starts the unmodified discord.py client pointed at the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import discord

from bot.app import AppContext, close_app, open_app
from bot.client import EXTENSIONS, CohortBot, build_bot
from bot.clock import Clock
from bot.endpoints import current_endpoints, point_discord_at, restore_endpoints
from bot.settings import Settings
from sandbox.server import SandboxServer

STUDENT_NAMES = (
    "Amara Okafor",
    "Ben Carter",
    "Chen Wei",
    "Dana Cohen",
    "Eli Brooks",
    "Fatima Zahra",
    "Gabe Moreno",
    "Hana Sato",
    "Ivan Petrov",
    "Jade Thompson",
    "Kofi Mensah",
    "Lena Fischer",
    "Mateo Silva",
    "Nia Johnson",
    "Omar Haddad",
    "Priya Nair",
    "Quinn Murphy",
    "Rosa Diaz",
    "Sam Lee",
    "Tariq Aziz",
    "Uma Patel",
    "Victor Hugo",
    "Wen Li",
    "Ximena Ruiz",
    "Yusuf Kaya",
    "Zoe Martin",
    "Aiko Tanaka",
    "Bilal Khan",
    "Carmen Vega",
    "Diego Ramos",
    "Esther Adeyemi",
    "Farah Malik",
    "Goran Novak",
    "Helga Berg",
)

#: What a server admin grants the bot's role when inviting it (the invite URL's permissions).
BOT_ROLE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    create_private_threads=True,
    manage_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
    manage_roles=True,
    manage_channels=True,
)


@dataclass
class CourseWorld:
    """A course server as the sandbox knows it, before CohortBot is set up."""

    guild_id: int
    guild_name: str
    instructor_id: int
    lead_id: int
    student_ids: list[int]
    general_channel_id: int
    student_role_id: int
    bot_role_id: int
    names: dict[int, str] = field(default_factory=dict)


async def build_course_world(
    sandbox: SandboxServer,
    *,
    students: int = 31,
    guild_name: str = "Intro to Data Science",
    shard: int | None = None,
) -> CourseWorld:
    instructor = sandbox.create_user("Prof. Rivera")
    # The owner is the instructor; the bot's own managed role gets the invite's permissions.
    guild_id = sandbox.create_guild(
        guild_name, owner_id=instructor, bot_permissions=BOT_ROLE_PERMISSIONS.value, shard=shard
    )
    bot_role = sandbox.bot_role_id(guild_id)
    student_role = sandbox.create_role(guild_id, "Student")
    lead = sandbox.create_user("Tomás (TA)")
    await sandbox.add_member(guild_id, lead)
    names = {instructor: "Prof. Rivera", lead: "Tomás (TA)"}
    student_ids = []
    for index in range(students):
        name = STUDENT_NAMES[index % len(STUDENT_NAMES)]
        if index >= len(STUDENT_NAMES):
            name = f"{name} {index // len(STUDENT_NAMES) + 1}"
        user = sandbox.create_user(name)
        await sandbox.add_member(guild_id, user, roles=[student_role])
        student_ids.append(user)
        names[user] = name
    general = sandbox.find_channel(guild_id, "general")
    assert general is not None
    return CourseWorld(
        guild_id=guild_id,
        guild_name=guild_name,
        instructor_id=instructor,
        lead_id=lead,
        student_ids=student_ids,
        general_channel_id=general,
        student_role_id=student_role,
        bot_role_id=bot_role,
        names=names,
    )


#: Names of the tasks discord.py runs slash commands, buttons and modals in.
_HANDLER_TASKS = (
    "CommandTree-invoker",
    "discord-ui-modal-dispatch-",
    "discord-ui-view-dispatch-",
    "discord-ui-dynamic-item-",
)


class BotRunner:
    """Starts CohortBot against a sandbox and stops it cleanly (awaiting the start task)."""

    def __init__(
        self,
        sandbox: SandboxServer,
        database_path: Path,
        *,
        clock: Clock | None = None,
        dev_guild_id: int | None = None,
        extensions: Sequence[str] = EXTENSIONS,
        busy_timeout_ms: int = 5000,
        shard_count: int | None = None,
        shard_ids: tuple[int, ...] | None = None,
        database_url: str | None = None,
        outbox_lease_seconds: int | None = None,
    ) -> None:
        self.sandbox = sandbox
        #: OUTBOX_LEASE_SECONDS (PostgreSQL only): a test that restarts after a "crash" uses a
        #: short lease so the claims it left can expire
        self.outbox_lease_seconds = outbox_lease_seconds
        self.shard_count = shard_count
        self.shard_ids = shard_ids
        self.database_path = database_path
        #: a postgresql:// URL to run on PostgreSQL (files beside it go next to database_path)
        self.database_url = database_url
        self.clock = clock
        self.dev_guild_id = dev_guild_id
        self.extensions = extensions
        self.busy_timeout_ms = busy_timeout_ms
        self.app: AppContext | None = None
        self.bot: CohortBot | None = None
        self._task: asyncio.Task[None] | None = None
        self._saved = current_endpoints()
        self.ready_timeout = 10.0

    async def start(self) -> CohortBot:
        timeout = self.ready_timeout
        point_discord_at(self.sandbox.api_base, self.sandbox.gateway_url)
        settings = Settings(
            database_path=self.database_path,
            database_url=self.database_url,
            discord_token="sandbox-token",
            discord_api_base=self.sandbox.api_base,
            discord_gateway_url=self.sandbox.gateway_url,
            dev_guild_id=self.dev_guild_id,
            shard_count=self.shard_count,
            shard_ids=self.shard_ids,
            outbox_lease_seconds=self.outbox_lease_seconds,
        )
        self.app = await open_app(settings, clock=self.clock, busy_timeout_ms=self.busy_timeout_ms)
        # The sandbox paces IDENTIFYs itself: no 5 s pause between two shards.
        self.bot = build_bot(
            self.app, extensions=self.extensions, guild_ready_timeout=0.05, identify_pause=0
        )
        await self.bot.__aenter__()
        self._task = asyncio.create_task(self.bot.start("sandbox-token"))
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            ready.cancel()
            self._task.result()  # raises what stopped the client
        if ready not in done:
            ready.cancel()
            raise TimeoutError("the bot did not become ready against the sandbox")
        await self.sandbox.wait_until_ready(timeout)
        return self.bot

    async def settle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has finished every slash command, button and modal handler it is
        running. A command answers before it returns, and its activity is recorded only when
        it completes."""

        def idle() -> bool:
            return not any(
                task.get_name().startswith(_HANDLER_TASKS) and not task.done()
                for task in asyncio.all_tasks()
            )

        await self.sandbox.wait_for(idle, timeout)

    async def stop(self) -> None:
        try:
            if self.bot is not None:
                # A handler still running (say a modal whose follow-up waits on a slower store)
                # would otherwise reply on a closed HTTP session and log an error.
                with contextlib.suppress(TimeoutError):
                    await self.settle()
                await self.bot.close()
            if self._task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            if self.bot is not None:
                await self.bot.__aexit__(None, None, None)
        finally:
            if self.app is not None:
                await close_app(self.app)
            restore_endpoints(self._saved)
            self.bot = None
            self.app = None
            self._task = None


@contextlib.asynccontextmanager
async def running_bot(
    sandbox: SandboxServer, database_path: Path, **kwargs: object
) -> AsyncIterator[BotRunner]:
    runner = BotRunner(sandbox, database_path, **kwargs)  # type: ignore[arg-type]
    try:
        await runner.start()
        yield runner
    finally:
        await runner.stop()
