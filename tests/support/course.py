"""The course under test: the sandbox, its people, the running bot, and small accessors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import AppContext
from bot.clock import FakeClock
from sandbox.harness import BotRunner, CourseWorld
from sandbox.server import InteractionRecord, SandboxServer


def sqlite_file_only(why: str) -> pytest.MarkDecorator:
    """Skip a ``course`` test when the suite runs on PostgreSQL (``COHORTBOT_TEST_STORE``):
    only for a test about the SQLite file itself (its copy, restore or PRAGMAs), saying why."""
    return pytest.mark.skipif(
        os.environ.get("COHORTBOT_TEST_STORE") == "postgresql",
        reason=f"SQLite file specific: {why}",
    )


def modal_input_ids(record: InteractionRecord) -> list[str]:
    """The custom ids of the text inputs in the modal the bot opened, in order."""
    assert record.modal is not None, "the bot opened no modal"
    ids: list[str] = []

    def walk(components: list[dict[str, object]]) -> None:
        for component in components:
            if component.get("type") == 4:
                ids.append(str(component["custom_id"]))
            for key in ("components", "component"):
                child = component.get(key)
                if isinstance(child, list):
                    walk(child)
                elif isinstance(child, dict):
                    walk([child])

    walk(record.modal.get("components", []))  # type: ignore[arg-type]
    return ids


@dataclass
class Course:
    """Everything a test needs: the fake Discord, the people in it, and the running bot."""

    sandbox: SandboxServer
    world: CourseWorld
    runner: BotRunner
    clock: FakeClock
    db_path: Path
    #: set when the course runs on PostgreSQL (COHORTBOT_TEST_STORE=postgresql)
    database_url: str | None = None

    @property
    def guild_id(self) -> int:
        return self.world.guild_id

    async def slash(
        self,
        user_id: int,
        command: str,
        options: dict[str, object] | None = None,
        *,
        channel_id: int | None = None,
    ) -> InteractionRecord:
        record = await self.sandbox.invoke_slash(
            self.guild_id, channel_id or self.world.general_channel_id, user_id, command, options
        )
        await record.wait_final()
        return record

    async def setup_course(self) -> InteractionRecord:
        record = await self.slash(
            self.world.instructor_id,
            "course setup",
            {
                "create_missing": True,
                "timezone": "America/New_York",
                "student_role": self.world.student_role_id,
            },
        )
        # Its own activity (a completed command) is recorded just after the answer: written
        # now, so a test starts with nothing buffered.
        await self.runner.settle()
        if self.runner.app is not None:
            await self.runner.app.activity_recorder.flush()
        return record

    async def restart_bot(self) -> None:
        await self.runner.stop()
        self.runner = BotRunner(
            self.sandbox,
            self.db_path,
            clock=self.clock,
            dev_guild_id=self.world.guild_id,
            database_url=self.database_url,
            outbox_lease_seconds=self.runner.outbox_lease_seconds,
        )
        await self.runner.start()

    async def expire_claims(self) -> None:
        """As a crash long enough ago leaves the outbox: on PostgreSQL the claims left
        'sending' become older than the (short, test) lease, so a restarted bot settles them
        instead of leaving them to the process that may still be sending them. Only needed
        for rows a test claims without a claimant's name (a restarted bot settles its own
        earlier run's named claims at once). Nothing on SQLite, where a restart settles them
        at once. (Aged by a lease and a second only: well inside the clock-skew allowance the
        reconciliation compares Discord's times with.)"""
        lease = self.runner.outbox_lease_seconds
        if self.database_url is None or lease is None or self.runner.app is None:
            return
        await self.runner.app.db.execute_write(
            "UPDATE outbox SET claimed_at = claimed_at - ? WHERE state = 'sending'",
            ((lease + 1) * 1_000_000,),  # stored in microseconds
        )


def app_of(course: Course) -> AppContext:
    assert course.runner.app is not None
    return course.runner.app


def channel(course: Course, name: str) -> int:
    found = course.sandbox.find_channel(course.guild_id, name)
    assert found is not None, name
    return found
