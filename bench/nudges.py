"""Drain 5,000 queued nudges through the outbox against the sandbox's enforced global limit.

``python -m bench.nudges [--quick]`` (``--quick``: 500 nudges). Half the students already have
a known DM channel (one request per DM), half do not (two: open the channel, then send). The
sandbox enforces 50 requests/s globally with real 429s. While the outbox drains, a student
runs ``/nudges status`` twice a second and the time to the bot's answer is recorded.

Printed: total drain time against the lower bound (requests needed ÷ 50), 429s received,
duplicates and lost messages (both must be 0), and p50/p99 slash-command latency. The bot and
the sandbox share one process and event loop here, so the latency includes the sandbox's own
work: a pessimistic setting.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import FakeClock
from sandbox.harness import BotRunner, build_course_world
from sandbox.server import SandboxServer

GLOBAL_LIMIT = 50.0
FULL = 5000
QUICK = 500


class RateLimitCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "responded with 429" in record.getMessage():
            self.count += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def drain(nudges: int) -> dict[str, Any]:
    counter = RateLimitCounter()
    logging.getLogger("discord.http").addHandler(counter)
    logging.getLogger("discord.client").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-") as tmp:
        async with SandboxServer() as sandbox:
            world = await build_course_world(sandbox, students=nudges)
            runner = BotRunner(
                sandbox,
                Path(tmp) / "bench.db",
                clock=FakeClock(datetime(2026, 9, 9, 14, tzinfo=UTC)),
                dev_guild_id=world.guild_id,
            )
            runner.ready_timeout = 120.0
            await runner.start()
            try:
                app = runner.app
                assert app is not None
                await sandbox.invoke_slash(
                    world.guild_id,
                    world.general_channel_id,
                    world.instructor_id,
                    "course setup",
                    {"timezone": "America/New_York", "student_role": world.student_role_id},
                )
                students = world.student_ids
                known = students[: nudges // 2]
                pairs = [(uid, sandbox.dm_channel_of(uid)) for uid in known]
                await app.outbox.dm_channels.save_dm_channels(world.guild_id, pairs)
                rows = [
                    app.outbox.new_row(
                        guild_id=world.guild_id,
                        kind="nudge:bench",
                        dedupe_key=f"bench:{i}",
                        content=f"bench nudge {i}",
                        user_id=uid,
                    )
                    for i, uid in enumerate(students)
                ]
                requests_needed = len(students) + (len(students) - len(known))
                sandbox.set_global_rate_limit(GLOBAL_LIMIT)
                latencies: list[float] = []
                started = time.perf_counter()
                await app.outbox.enqueue_rows(rows)
                drained = asyncio.create_task(app.outbox.drain(timeout=3600))
                prober = students[-1]
                while not drained.done():
                    sent_at = time.perf_counter()
                    record = await sandbox.invoke_slash(
                        world.guild_id, world.general_channel_id, prober, "nudges status"
                    )
                    await record.wait_response(30)
                    latencies.append(time.perf_counter() - sent_at)
                    await asyncio.wait({drained}, timeout=0.5)
                await drained
                elapsed = time.perf_counter() - started
                sandbox.set_global_rate_limit(None)
                expected = {f"bench nudge {i}" for i in range(len(students))}
                delivered: list[str] = []
                for uid in students:
                    delivered.extend(
                        str(m["content"])
                        for m in sandbox.dm_messages(uid)
                        if str(m["content"]).startswith("bench nudge")
                    )
            finally:
                await runner.stop()
    logging.getLogger("discord.http").removeHandler(counter)
    lower_bound = requests_needed / GLOBAL_LIMIT
    return {
        "benchmark": "nudges",
        "nudges": nudges,
        "known_dm_channels": len(known),
        "requests": requests_needed,
        "seconds": round(elapsed, 1),
        "lower_bound_seconds": round(lower_bound, 1),
        "ratio": round(elapsed / lower_bound, 2),
        "429s": counter.count,
        "duplicates": len(delivered) - len(set(delivered)),
        "lost": len(expected - set(delivered)),
        "slash_p50_ms": round(1000 * percentile(latencies, 0.5), 1),
        "slash_p99_ms": round(1000 * percentile(latencies, 0.99), 1),
        "slash_samples": len(latencies),
        "median_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    return [asyncio.run(drain(QUICK if quick else FULL))]


def print_table(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"Outbox drain: {r['nudges']} nudges ({r['known_dm_channels']} with a known DM channel)"
        )
        print(
            "| requests | time (s) | lower bound (s) | ratio | 429s | duplicates | lost "
            "| slash p50 (ms) | slash p99 (ms) |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {r['requests']} | {r['seconds']} | {r['lower_bound_seconds']} | {r['ratio']} "
            f"| {r['429s']} | {r['duplicates']} | {r['lost']} | {r['slash_p50_ms']} "
            f"| {r['slash_p99_ms']} |"
        )
        print(f"({r['slash_samples']} slash commands answered during the drain)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} nudges instead of {FULL}")
    args = parser.parse_args()
    if args.quick:
        print(f"--quick: {QUICK} nudges (docs/performance.md records the full {FULL}).")
    print_table(run(args.quick))


if __name__ == "__main__":
    main()
