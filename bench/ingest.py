"""Event ingest and responsiveness under load: CohortBot vs a bare discord.py client.

``python -m bench.ingest [--quick] [--events N]``; ``run(quick)`` returns the table rows.

Both clients run as their own processes against one sandbox (in this process), one after the
other, alternating, in the same run; each client sees the same pre-serialised stream of
MESSAGE_CREATE events: answers and peer replies in prompt threads, intro-channel messages,
coffee-shop chatter and messages in two untracked channels, about 200 characters each, 20 %
replies to a recent message.

Flood (throughput): the whole stream is queued at once, then one probe slash command. A client
has *processed* the stream when it answers the probe: the gateway is read in order and every
event handler scheduled before the probe's has run by then. events/s = events ÷ (first event
queued → probe answer received). CohortBot then gets SIGTERM at once, and every tracked
message must be in the database after it exits (the batched rows still buffered at SIGTERM
are written on shutdown; ``flushed at exit`` counts them).

Responsiveness: the same stream paced at half the bare client's measured rate (a busy but
sustainable load; a stream faster than a client can read only measures its backlog) while a
probe command is sent every 50 ms; latency = INTERACTION_CREATE dispatched → first callback
received by the sandbox. A run starts once the client has been sent the guild's members and
has answered a probe queued behind them (the same start for both). One paced run holds only
~75 probes (the stream lasts ~4 s), and the p99 of 75 probes is simply the slowest one, so
paced runs are repeated, alternating the two clients, until each has at least
``paced_probes`` probes; their latencies are pooled. The table gives the pooled p50/p99, the
share of probes over 20 ms and each run's own p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    CLIENT_LABELS,
    SANDBOX_TOKEN,
    BenchError,
    ClientKind,
    answered_at,
    latency_ms,
    markdown_table,
    median,
    percentile,
    probe,
    spawn,
    wait_until_answering,
)
from bot.app import build_features, close_app, open_app
from bot.settings import Settings
from bot.store.activity import ActivityRepository
from bot.store.db import Database
from bot.store.engine import open_database
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from sandbox.gateway import DEFAULT_LARGE_THRESHOLD as LARGE_THRESHOLD
from sandbox.harness import BOT_ROLE_PERMISSIONS
from sandbox.server import InteractionRecord, SandboxServer

#: (place, share of the stream); intro + prompt threads + coffee shop are tracked (65 %).
MIX: tuple[tuple[str, float], ...] = (
    ("prompt_thread", 0.30),
    ("intro", 0.03),
    ("coffee", 0.32),
    ("general", 0.25),
    ("off_topic", 0.10),
)
TRACKED_PLACES = frozenset({"prompt_thread", "intro", "coffee"})
REPLY_SHARE = 0.20
PROBE_INTERVAL = 0.05
PUSH_BATCH = 1000
SLOW_PROBE_MS = 20.0
#: Each paced run starts a fresh client process, so its first seconds are also the client's
#: first seconds after start-up (guilds loading, every cache cold, each student's first
#: intro): the table also shows the slow share of the probes sent after them.
WARM_UP_SECONDS = 2.0
MAX_PACED_RUNS = 12

WORDS = (  # noqa: SIM905
    "week prompt answer think because data model course reading lecture example question "
    "really helped me understand why the result changes when sample grows shared notebook "
    "deadline group coffee celebrate finally passed quiz thanks everyone working parent "
    "night shift timezone morning evening study plan regression chart variance mean median "
    "outlier cleaning pandas plot feedback agree different view interesting point try"
).split()


@dataclass(frozen=True)
class IngestSize:
    events: int
    students: int
    prompt_threads: int
    rounds: int
    paced_seconds: float
    #: paced runs are repeated until each client has answered this many probes
    paced_probes: int = 0


FULL = IngestSize(
    events=50_000,
    students=2_000,
    prompt_threads=60,
    rounds=3,
    paced_seconds=10.0,
    paced_probes=500,
)
QUICK = IngestSize(
    events=10_000, students=500, prompt_threads=20, rounds=1, paced_seconds=4.0, paced_probes=100
)


@dataclass
class IngestWorld:
    guild_id: int
    general_id: int
    prober_id: int
    setup: SetupRequest
    #: MESSAGE_CREATE data as JSON text, in stream order
    frames: list[str]
    #: per frame: (author, channel) when it is a tracked message, else None
    keys: list[tuple[int, int] | None]

    def expected(self, count: int) -> Counter[tuple[int, int]]:
        return Counter(key for key in self.keys[:count] if key is not None)


def _content(rng: random.Random) -> str:
    target = rng.randint(150, 250)
    words: list[str] = []
    length = 0
    while length < target:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words).capitalize() + "."


async def build_world(sandbox: SandboxServer, size: IngestSize, seed: int = 10) -> IngestWorld:
    """One course server with ``size.students`` students and the stream, serialised."""
    rng = random.Random(seed)
    instructor = sandbox.create_user("Prof. Rivera")
    guild_id = sandbox.create_guild(
        "MOOC: Intro to Data Science",
        owner_id=instructor,
        bot_permissions=BOT_ROLE_PERMISSIONS.value,
    )
    student_role = sandbox.create_role(guild_id, "Student")
    students = sandbox.populate_members(
        guild_id, (f"student{i:05d}" for i in range(size.students)), roles=[student_role]
    )
    (prober,) = sandbox.populate_members(guild_id, ["probe-student"], roles=[student_role])
    general = sandbox.find_channel(guild_id, "general")
    assert general is not None
    places = {
        "intro": sandbox.create_channel(guild_id, "introductions"),
        "discussion": sandbox.create_channel(guild_id, "weekly-discussion"),
        "coffee": sandbox.create_channel(guild_id, "coffee-shop"),
        "general": general,
        "off_topic": sandbox.create_channel(guild_id, "off-topic"),
    }
    threads = [
        (
            sandbox.create_thread(places["discussion"], f"Week 3 answer {i}", owner_id=students[i]),
            students[i],
        )
        for i in range(size.prompt_threads)
    ]
    names = [name for name, _ in MIX]
    weights = [share for _, share in MIX]
    recent: dict[int, list[int]] = {}
    frames: list[str] = []
    keys: list[tuple[int, int] | None] = []
    for _ in range(size.events):
        place = rng.choices(names, weights)[0]
        author = rng.choice(students)
        if place == "prompt_thread":
            channel, owner = rng.choice(threads)
            # The owner answers or follows up; classmates reply.
            if rng.random() < 0.3:
                author = owner
        else:
            channel = places[place]
        earlier = recent.setdefault(channel, [])
        reply_to = rng.choice(earlier) if earlier and rng.random() < REPLY_SHARE else None
        message_id, frame = sandbox.prepare_message(
            channel, author, _content(rng), reply_to=reply_to
        )
        earlier.append(message_id)
        if len(earlier) > 50:
            del earlier[0]
        frames.append(frame)
        keys.append((author, channel) if place in TRACKED_PLACES else None)
    setup = SetupRequest(
        student_role_id=student_role,
        intro_channel_id=places["intro"],
        discussion_channel_id=places["discussion"],
        coffee_channel_id=places["coffee"],
        timezone="America/New_York",
    )
    sandbox.register_command("help", "What CohortBot can do for you")
    return IngestWorld(guild_id, general, prober, setup, frames, keys)


async def prepare_database(target: Path | str, guild_id: int, setup: SetupRequest) -> None:
    """A configured course server, as after /course setup (the bot is then restarted).
    ``target``: an SQLite file or a PostgreSQL URL."""
    url = target if isinstance(target, str) else None
    path = Path(target) if url is None else Path("unused.db")
    settings = Settings(database_path=path, database_url=url, discord_token=SANDBOX_TOKEN)
    app = await open_app(settings)
    build_features(app)
    try:
        await app.services.get(SetupService).apply(guild_id, setup)
    finally:
        await close_app(app)


async def tracked_rows(target: Path | str, guild_id: int) -> Counter[tuple[int, int]]:
    db = await open_database(target)
    try:
        counts = await ActivityRepository(db).counts_by_place(guild_id)
    finally:
        await db.close()
    return Counter({(user, channel or 0): n for (user, channel), n in counts.items()})


@dataclass
class Run:
    kind: ClientKind
    events: int
    seconds: float
    tracked_expected: int = 0
    tracked_in_db: int = 0
    missing: int = 0
    unexpected: int = 0
    flushed_at_exit: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    #: per probe (same order): seconds from the paced run's start to the probe
    probe_offsets_s: list[float] = field(default_factory=list)
    #: the benchmark process's longest pause in the paced window (its event loop's gap between
    #: two pacing steps): a stalled sandbox delays probes and then sends a burst of events
    harness_stall_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


_COUNTED = re.compile(r"messages=(\d+)")


def _bare_count(record: InteractionRecord) -> int:
    match = _COUNTED.search(str(record.responses[0].get("content") or ""))
    if match is None:
        raise BenchError(f"the bare client's probe answer is unexpected: {record.responses[0]}")
    return int(match.group(1))


@contextlib.contextmanager
def heap_frozen() -> Iterator[None]:
    """What exists now (the sandbox's world, the serialised stream) is left out of every
    collection until the block ends: they live for the whole run, and scanning them is what
    made this process's full collections long."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in this (the sandbox's) process for the span of a paced run.

    The sandbox holds the whole world and the serialised stream: a full collection of it here
    took 50-250 ms, stalling the sandbox in the middle of a paced run, so a probe's latency
    included the instrument's own pause and the burst of events it sent to catch up. Refcounting
    still frees almost everything; the cycles wait for the collection after the run."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def _push(sandbox: SandboxServer, frames: list[str]) -> None:
    # In batches, yielding in between, so the socket writer starts at once.
    for start in range(0, len(frames), PUSH_BATCH):
        sandbox.stream_messages(frames[start : start + PUSH_BATCH])
        await asyncio.sleep(0)


class Session:
    """One client process against the world: start it, stream, verify, stop it."""

    def __init__(
        self,
        sandbox: SandboxServer,
        world: IngestWorld,
        kind: ClientKind,
        workdir: Path,
        label: str,
        database_url: str | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.world = world
        self.kind = kind
        self.workdir = workdir
        self.label = label
        #: the bot's store: a PostgreSQL URL, or an SQLite file of its own
        self.database: Path | str | None = None
        if kind == "bot":
            self.database = database_url or workdir / f"cohortbot{label}.db"
        self.db: Database | None = None

    async def __aenter__(self) -> Session:
        if self.database is not None:
            await prepare_database(self.database, self.world.guild_id, self.world.setup)
        url = self.database if isinstance(self.database, str) else None
        requests_before = len(self.sandbox.gateway.member_requests)
        self.child = await spawn(
            self.kind,
            self.sandbox,
            self.workdir,
            database_path=self.database if isinstance(self.database, Path) else None,
            label=self.label,
            env={"DATABASE_URL": url} if url else None,
        )
        try:
            await wait_until_answering(
                self.sandbox,
                self.child,
                self.world.guild_id,
                self.world.general_id,
                self.world.prober_id,
            )
            # Both clients start the stream in the same state: once the sandbox has sent them
            # a large guild's members (discord.py asks right after GUILD_CREATE) and they have
            # answered a probe queued behind those chunks. Until 2026-12-08 only the bare
            # client did, by chance (its probe for the message count), so the bot's first
            # paced probe sometimes waited for its member chunks and the bare client's never.
            if len(self.sandbox.world.guilds[self.world.guild_id].members) > LARGE_THRESHOLD:
                await self.sandbox.wait_for(
                    lambda: any(
                        guild == self.world.guild_id
                        for guild, _ in self.sandbox.gateway.member_requests[requests_before:]
                    ),
                    timeout=60,
                )
            answer = await self._probe()
            self.messages_before = _bare_count(answer) if self.kind == "bare" else 0
        except BaseException:
            await self.child.kill()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.child.kill()
        await self.sandbox.wait_for(lambda: not self.sandbox.gateway.connections, timeout=10)

    async def _probe(self) -> InteractionRecord:
        return await probe(
            self.sandbox,
            self.world.guild_id,
            self.world.general_id,
            self.world.prober_id,
            timeout=600,
        )

    async def finish(self, result: Run, count: int) -> Run:
        """SIGTERM right away, then check that nothing was lost."""
        if self.kind == "bot":
            assert self.database is not None
            at_answer = await tracked_rows(self.database, self.world.guild_id)
            code = await self.child.stop()
            if code != 0:
                raise BenchError(
                    f"CohortBot exited with {code} after SIGTERM: {self.child.log_path}"
                )
            stored = await tracked_rows(self.database, self.world.guild_id)
            expected = self.world.expected(count)
            result.tracked_expected = sum(expected.values())
            result.tracked_in_db = sum(stored.values())
            result.missing = sum((expected - stored).values())
            result.unexpected = sum((stored - expected).values())
            result.flushed_at_exit = result.tracked_in_db - sum(at_answer.values())
        else:
            await self.child.stop()
        problems = self.child.log_problems()
        if problems:
            raise BenchError(
                f"{self.kind} logged errors: {problems[:2]}\n{self.child.first_traceback()}"
            )
        return result

    async def flood(self, count: int) -> Run:
        frames = self.world.frames[:count]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _push(self.sandbox, frames)
        answer = await self._probe()
        result = Run(self.kind, len(frames), answered_at(answer) - started)
        if self.kind == "bare":
            seen = _bare_count(answer) - self.messages_before
            if seen != len(frames):
                raise BenchError(f"the bare client counted {seen} of {len(frames)} messages")
        return await self.finish(result, len(frames))

    async def paced(self, rate: float, seconds: float) -> Run:
        count = min(len(self.world.frames), max(1, int(rate * seconds)))
        frames = self.world.frames[:count]
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = 0
        probes: list[InteractionRecord] = []
        offsets: list[float] = []
        next_probe = started
        previous = started
        longest_gap = 0.0
        while sent < count:
            now = loop.time()
            longest_gap = max(longest_gap, now - previous)
            previous = now
            due = min(count, int((now - started) * rate) + 1)
            if due > sent:
                self.sandbox.stream_messages(frames[sent:due])
                sent = due
            if now >= next_probe:
                offsets.append(now - started)
                probes.append(
                    await self.sandbox.invoke_slash(
                        self.world.guild_id, self.world.general_id, self.world.prober_id, "help"
                    )
                )
                next_probe += PROBE_INTERVAL
            await asyncio.sleep(0.002)
        last = await self._probe()
        for record in probes:
            await record.wait_response(60)
        result = Run(self.kind, count, answered_at(last) - started)
        result.latencies_ms = [latency_ms(record) for record in probes]
        result.probe_offsets_s = offsets
        # A pacing step is due every ~2 ms; anything beyond that the sandbox was not running.
        result.harness_stall_ms = longest_gap * 1000
        return await self.finish(result, count)


@dataclass
class IngestReport:
    size: IngestSize
    events: int
    flood: dict[ClientKind, list[Run]]
    paced: dict[ClientKind, Run]
    paced_rate: float
    #: each paced run's own p99, per client, in run order
    paced_p99s: dict[ClientKind, list[float]] = field(default_factory=dict)


def pool(kind: ClientKind, runs: list[Run]) -> Run:
    """Several paced runs as one: events, rows and probe latencies added up."""
    pooled = Run(kind, sum(r.events for r in runs), sum(r.seconds for r in runs))
    for run in runs:
        pooled.tracked_expected += run.tracked_expected
        pooled.tracked_in_db += run.tracked_in_db
        pooled.missing += run.missing
        pooled.unexpected += run.unexpected
        pooled.flushed_at_exit = max(pooled.flushed_at_exit, run.flushed_at_exit)
        pooled.latencies_ms.extend(run.latencies_ms)
        pooled.probe_offsets_s.extend(run.probe_offsets_s)
        pooled.harness_stall_ms = max(pooled.harness_stall_ms, run.harness_stall_ms)
    return pooled


async def measure(size: IngestSize, workdir: Path, *, seed: int = 10) -> IngestReport:
    async with SandboxServer() as sandbox:
        sandbox.required_token = SANDBOX_TOKEN
        world = await build_world(sandbox, size, seed)
        with heap_frozen():
            return await _measure_world(sandbox, world, size, workdir)


async def _measure_world(
    sandbox: SandboxServer, world: IngestWorld, size: IngestSize, workdir: Path
) -> IngestReport:
    flood: dict[ClientKind, list[Run]] = {"bare": [], "bot": []}
    for index in range(size.rounds):
        # Alternate who goes first, so a warming or cooling machine favours neither.
        order: tuple[ClientKind, ClientKind] = (
            ("bare", "bot") if index % 2 == 0 else ("bot", "bare")
        )
        for kind in order:
            async with Session(sandbox, world, kind, workdir, f"-flood{index}") as session:
                flood[kind].append(await session.flood(size.events))
    paced_rate = max(1.0, median([r.rate for r in flood["bare"]]) / 2)
    paced_runs: dict[ClientKind, list[Run]] = {"bare": [], "bot": []}
    index = 0
    while index == 0 or (
        index < MAX_PACED_RUNS
        and min(sum(len(r.latencies_ms) for r in runs) for runs in paced_runs.values())
        < size.paced_probes
    ):
        order = ("bare", "bot") if index % 2 == 0 else ("bot", "bare")
        for kind in order:
            async with Session(sandbox, world, kind, workdir, f"-paced{index}") as session:
                with collector_paused():
                    run = await session.paced(paced_rate, size.paced_seconds)
                paced_runs[kind].append(run)
        index += 1
    paced = {kind: pool(kind, runs) for kind, runs in paced_runs.items()}
    p99s = {
        kind: [percentile(r.latencies_ms, 0.99) for r in runs] for kind, runs in paced_runs.items()
    }
    return IngestReport(size, size.events, flood, paced, paced_rate, p99s)


async def measure_stores(
    size: IngestSize, workdir: Path, *, seed: int = 10
) -> dict[str, list[Run]]:
    """CohortBot's flood on SQLite and on PostgreSQL (a throwaway server, durable settings,
    a fresh database per run), ``size.rounds`` each, alternating which goes first."""
    from bench.common import postgres_server

    runs: dict[str, list[Run]] = {"SQLite": [], "PostgreSQL": []}
    async with postgres_server() as server, SandboxServer() as sandbox:
        sandbox.required_token = SANDBOX_TOKEN
        world = await build_world(sandbox, size, seed)
        for index in range(size.rounds):
            order = ("SQLite", "PostgreSQL") if index % 2 == 0 else ("PostgreSQL", "SQLite")
            for store in order:
                url = await server.fresh_database() if store == "PostgreSQL" else None
                label = f"-{store.lower()}{index}"
                async with Session(sandbox, world, "bot", workdir, label, url) as session:
                    runs[store].append(await session.flood(size.events))
    return runs


def store_rows(runs: dict[str, list[Run]]) -> list[dict[str, Any]]:
    base = median([r.rate for r in runs["SQLite"]])
    out: list[dict[str, Any]] = []
    for store, store_runs in runs.items():
        rate = median([r.rate for r in store_runs])
        out.append(
            {
                "CohortBot on": store,
                "events": store_runs[0].events,
                "runs": len(store_runs),
                "events/s (median)": round(rate),
                "per run": "/".join(f"{r.rate:.0f}" for r in store_runs),
                "vs SQLite": f"{rate / base:.0%}" if base else "—",
                "tracked in DB": f"{sum(r.tracked_in_db for r in store_runs)}"
                f"/{sum(r.tracked_expected for r in store_runs)}",
                "lost": sum(r.missing for r in store_runs),
                "flushed at exit": max(r.flushed_at_exit for r in store_runs),
            }
        )
    return out


def rows(report: IngestReport) -> list[dict[str, Any]]:
    bare_rate = median([r.rate for r in report.flood["bare"]])
    out: list[dict[str, Any]] = []
    for kind in ("bare", "bot"):
        runs = report.flood[kind]
        rate = median([r.rate for r in runs])
        paced = report.paced[kind]
        bot = kind == "bot"
        out.append(
            {
                "client": CLIENT_LABELS[kind],
                "events": report.events,
                "runs": len(runs),
                "events/s": round(rate),
                "vs bare": f"{rate / bare_rate:.0%}" if bare_rate else "—",
                "tracked in DB": (
                    f"{sum(r.tracked_in_db for r in [*runs, paced])}"
                    f"/{sum(r.tracked_expected for r in [*runs, paced])}"
                    if bot
                    else "—"
                ),
                "lost": sum(r.missing for r in [*runs, paced]) if bot else "—",
                "flushed at exit": max(r.flushed_at_exit for r in runs) if bot else "—",
                "load events/s": round(report.paced_rate),
                "probes": len(paced.latencies_ms),
                "p50 ms": round(percentile(paced.latencies_ms, 0.5), 1),
                "p99 ms": round(percentile(paced.latencies_ms, 0.99), 1),
                f"> {SLOW_PROBE_MS:g} ms": f"{slow_share(paced.latencies_ms):.1%}",
                f"> {SLOW_PROBE_MS:g} ms after {WARM_UP_SECONDS:g} s": (
                    f"{slow_share(after_warm_up(paced)):.1%}"
                ),
                "p99 per run": "/".join(f"{ms:.0f}" for ms in report.paced_p99s.get(kind, [])),
                "sandbox stall ms": round(paced.harness_stall_ms),
            }
        )
    return out


def after_warm_up(run: Run) -> list[float]:
    """The latencies of the probes sent ``WARM_UP_SECONDS`` or more into their paced run."""
    return [
        ms
        for ms, offset in zip(run.latencies_ms, run.probe_offsets_s, strict=True)
        if offset >= WARM_UP_SECONDS
    ]


def slow_share(latencies_ms: list[float]) -> float:
    """The share of probes answered later than ``SLOW_PROBE_MS``."""
    if not latencies_ms:
        return 0.0
    return sum(ms > SLOW_PROBE_MS for ms in latencies_ms) / len(latencies_ms)


def check(report: IngestReport) -> None:
    for run in [*report.flood["bot"], report.paced["bot"]]:
        if run.missing or run.unexpected:
            raise BenchError(
                f"CohortBot lost {run.missing} and invented {run.unexpected} of "
                f"{run.tracked_expected} tracked messages"
            )


async def _run(size: IngestSize) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-") as tmp:
        report = await measure(size, Path(tmp))
    check(report)
    return rows(report)


async def _run_stores(size: IngestSize) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-") as tmp:
        runs = await measure_stores(size, Path(tmp))
    for store, store_runs in runs.items():
        for r in store_runs:
            if r.missing or r.unexpected:
                raise BenchError(f"CohortBot on {store} lost {r.missing} of {r.tracked_expected}")
    return store_rows(runs)


def run(quick: bool = False) -> list[dict[str, Any]]:
    return asyncio.run(_run(QUICK if quick else FULL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, help="override the stream length")
    parser.add_argument("--rounds", type=int, help="override the flood rounds per client")
    parser.add_argument(
        "--stores", action="store_true", help="CohortBot on SQLite vs PostgreSQL (flood only)"
    )
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    if args.events or args.rounds:
        size = IngestSize(
            events=args.events or size.events,
            students=size.students,
            prompt_threads=size.prompt_threads,
            rounds=args.rounds or size.rounds,
            paced_seconds=size.paced_seconds,
            paced_probes=size.paced_probes,
        )
    if args.stores:
        print(markdown_table(asyncio.run(_run_stores(size))))
        return
    print(markdown_table(asyncio.run(_run(size))))


if __name__ == "__main__":
    main()
