"""Start-up and memory: CohortBot vs a bare discord.py client in many large course servers.

``python -m bench.startup [--quick]``; ``run(quick)`` returns the table rows.

The sandbox holds ``guilds`` servers of ``members`` members each, all configured in
CohortBot's database. Above 250 members a guild is *large*: GUILD_CREATE carries only the
bot's own member and the client must request the rest (op 8 → GUILD_MEMBERS_CHUNK, 1,000
members a chunk), as on Discord. Each client is started as its own process (``python -m bot``
or ``python -m bench.bare_client``), one after the other, alternating.

time = process start → every member cached: when the sandbox has answered the member requests
of every guild it sends a probe slash command; the gateway is read in order, so the answer
proves every chunk before it was processed (the bare client also reports how many members it
cached, which must be all). peak RSS = the child's VmHWM when it has answered.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    CLIENT_LABELS,
    SANDBOX_TOKEN,
    BenchError,
    Child,
    ClientKind,
    answered_at,
    markdown_table,
    median,
    probe,
    spawn,
)
from bot.app import build_features, close_app, open_app
from bot.settings import Settings
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from sandbox.harness import BOT_ROLE_PERMISSIONS
from sandbox.server import SandboxServer


@dataclass(frozen=True)
class StartupSize:
    guilds: int
    members: int
    rounds: int


FULL = StartupSize(guilds=10, members=5_000, rounds=3)
QUICK = StartupSize(guilds=10, members=5_000, rounds=1)


@dataclass
class StartupWorld:
    guild_ids: list[int]
    setups: dict[int, SetupRequest]
    probe_guild: int
    probe_channel: int
    prober_id: int
    total_members: int


async def build_world(sandbox: SandboxServer, size: StartupSize) -> StartupWorld:
    guild_ids: list[int] = []
    setups: dict[int, SetupRequest] = {}
    total = 0
    prober = 0
    for index in range(size.guilds):
        owner = sandbox.create_user(f"instructor{index}")
        guild_id = sandbox.create_guild(
            f"Course {index}", owner_id=owner, bot_permissions=BOT_ROLE_PERMISSIONS.value
        )
        student_role = sandbox.create_role(guild_id, "Student")
        # The owner and the bot are members already.
        students = sandbox.populate_members(
            guild_id,
            (f"g{index}-student{i:05d}" for i in range(max(0, size.members - 2))),
            roles=[student_role],
        )
        if index == 0:
            prober = students[0]
        total += len(students) + 2
        intro = sandbox.create_channel(guild_id, "introductions")
        coffee = sandbox.create_channel(guild_id, "coffee-shop")
        setups[guild_id] = SetupRequest(
            student_role_id=student_role,
            intro_channel_id=intro,
            coffee_channel_id=coffee,
            timezone="America/New_York",
        )
        guild_ids.append(guild_id)
    general = sandbox.find_channel(guild_ids[0], "general")
    assert general is not None
    sandbox.register_command("help", "What CohortBot can do for you")
    return StartupWorld(guild_ids, setups, guild_ids[0], general, prober, total)


async def prepare_database(path: Path, setups: dict[int, SetupRequest]) -> None:
    app = await open_app(Settings(database_path=path, discord_token=SANDBOX_TOKEN))
    build_features(app)
    try:
        for guild_id, request in setups.items():
            await app.services.get(SetupService).apply(guild_id, request)
    finally:
        await close_app(app)


@dataclass
class StartupRun:
    kind: ClientKind
    seconds: float
    peak_rss_mb: float


_MEMBERS = re.compile(r"members=(\d+)")


async def _wait_for_chunks(sandbox: SandboxServer, child: Child, world: StartupWorld) -> None:
    """Until the sandbox has answered a member request for every guild (or the child died)."""
    first = len(sandbox.gateway.member_requests)
    wanted = set(world.guild_ids)

    def done() -> bool:
        if child.process.returncode is not None:
            return True
        asked = {guild for guild, _ in sandbox.gateway.member_requests[first:]}
        return wanted <= asked

    await sandbox.wait_for(done, timeout=300)
    if child.process.returncode is not None:
        raise BenchError(
            f"{child.kind} exited with {child.process.returncode}\n{child.first_traceback()}"
        )
    sent = sum(n for _, n in sandbox.gateway.member_requests[first:])
    if sent < world.total_members:
        raise BenchError(f"{child.kind} requested {sent} of {world.total_members} members")


async def start_once(
    sandbox: SandboxServer, world: StartupWorld, kind: ClientKind, workdir: Path, label: str
) -> StartupRun:
    database = None
    if kind == "bot":
        database = workdir / f"startup{label}.db"
        await prepare_database(database, world.setups)
    child = await spawn(kind, sandbox, workdir, database_path=database, label=label)
    try:
        await _wait_for_chunks(sandbox, child, world)
        answer = await probe(
            sandbox, world.probe_guild, world.probe_channel, world.prober_id, timeout=120
        )
        seconds = answered_at(answer) - child.started_at
        rss = child.peak_rss_mb()
        if kind == "bare":
            match = _MEMBERS.search(str(answer.responses[0].get("content") or ""))
            cached = int(match.group(1)) if match else -1
            if cached != world.total_members:
                raise BenchError(f"the bare client cached {cached} of {world.total_members}")
        code = await child.stop()
        if code != 0:
            raise BenchError(f"{kind} exited with {code}\n{child.first_traceback()}")
        problems = child.log_problems()
        if problems:
            raise BenchError(f"{kind} logged errors: {problems[:2]}\n{child.first_traceback()}")
    finally:
        await child.kill()
    await sandbox.wait_for(lambda: not sandbox.gateway.connections, timeout=10)
    return StartupRun(kind, seconds, rss)


async def measure(size: StartupSize, workdir: Path) -> dict[ClientKind, list[StartupRun]]:
    async with SandboxServer() as sandbox:
        sandbox.required_token = SANDBOX_TOKEN
        world = await build_world(sandbox, size)
        runs: dict[ClientKind, list[StartupRun]] = {"bare": [], "bot": []}
        for index in range(size.rounds):
            order: tuple[ClientKind, ...] = ("bare", "bot") if index % 2 == 0 else ("bot", "bare")
            for kind in order:
                runs[kind].append(await start_once(sandbox, world, kind, workdir, f"-start{index}"))
        return runs


def rows(size: StartupSize, runs: dict[ClientKind, list[StartupRun]]) -> list[dict[str, Any]]:
    bare_time = median([r.seconds for r in runs["bare"]])
    bare_rss = median([r.peak_rss_mb for r in runs["bare"]])
    out: list[dict[str, Any]] = []
    for kind in ("bare", "bot"):
        seconds = median([r.seconds for r in runs[kind]])
        rss = median([r.peak_rss_mb for r in runs[kind]])
        out.append(
            {
                "client": CLIENT_LABELS[kind],
                "guilds × members": f"{size.guilds} × {size.members:,}",
                "runs": len(runs[kind]),
                "all members cached s": round(seconds, 2),
                "time vs bare": f"{seconds / bare_time:.2f}×",
                "peak RSS MiB": round(rss, 1),
                "RSS vs bare": f"{rss / bare_rss:.2f}×",
            }
        )
    return out


async def _run(size: StartupSize) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-") as tmp:
        runs = await measure(size, Path(tmp))
    return rows(size, runs)


def run(quick: bool = False) -> list[dict[str, Any]]:
    return asyncio.run(_run(QUICK if quick else FULL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--guilds", type=int)
    parser.add_argument("--members", type=int)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    base = QUICK if args.quick else FULL
    size = StartupSize(
        guilds=args.guilds or base.guilds,
        members=args.members or base.members,
        rounds=args.rounds or base.rounds,
    )
    print(markdown_table(asyncio.run(_run(size))))


if __name__ == "__main__":
    main()
