"""Event-loop CPU per message: discord.py's own work against CohortBot's, in one process.

``python -m bench.dispatch [--quick]``; ``run(quick)`` returns the table rows.

``bench.ingest`` judges latency under load, and on a shared 2-core machine its tail is as much
the machine's noise as either client's. This benchmark measures the cause the bot controls:
the CPU each message costs on the thread that runs the event loop (``time.thread_time``, so
waiting is not counted; the other threads' CPU, the database worker's, is shown apart).

One process holds the sandbox and a connected CohortBot, its course set up as in
``bench.ingest`` (same stream: prompt threads, intros, coffee shop, untracked channels). The
stream's MESSAGE_CREATE payloads go straight to discord.py's ``parse_message_create`` in
chunks of fresh messages, in four modes, alternating chunk by chunk:

- ``discord.py parse`` — what a bare client does for a message it ignores: the parse and a
  dispatch to nothing, with discord.py's default 1,000-message cache, and without a cache;
- ``CohortBot`` — the parse and the bot's own dispatch (the features' inline pre-filters, the
  activity count, the handlers they start, run to their end, and the activity flush), as
  shipped (no message cache), and with discord.py's default cache.

Each row is the median over its chunks (after one warm-up chunk per mode); "vs discord.py"
divides by the bare parse with its default cache, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import markdown_table, median
from bench.ingest import IngestSize, build_world, heap_frozen, prepare_database
from bot.client import CohortBot, running_handlers
from sandbox.harness import BotRunner
from sandbox.server import SandboxServer


@dataclass(frozen=True)
class DispatchSize:
    students: int
    prompt_threads: int
    #: messages per chunk; each mode gets ``chunks`` measured chunks (plus one warm-up)
    chunk: int
    chunks: int


FULL = DispatchSize(students=2_000, prompt_threads=60, chunk=4_000, chunks=8)
QUICK = DispatchSize(students=500, prompt_threads=20, chunk=1_000, chunks=3)

#: (label, CohortBot's dispatch runs, discord.py's message cache kept)
MODES: tuple[tuple[str, bool, bool], ...] = (
    ("discord.py parse, default message cache", False, True),
    ("discord.py parse, no message cache", False, False),
    ("CohortBot as shipped (no message cache)", True, False),
    ("CohortBot with the default message cache", True, True),
)
#: parse this many messages, then let the loop run the handlers they started
_BURST = 200


@dataclass
class Costs:
    loop_us: list[float]
    other_threads_us: list[float]
    #: tracked messages the bot's activity recorder wrote in this mode's measured chunks
    #: (none where CohortBot's dispatch did not run)
    recorded: int = 0


async def _handlers_done() -> None:
    """Until every event handler task the parsed messages started has finished."""
    while running := running_handlers():
        await asyncio.wait(running)


async def _feed(bot: CohortBot, payloads: list[Any]) -> None:
    state = bot._connection
    for start in range(0, len(payloads), _BURST):
        for data in payloads[start : start + _BURST]:
            state.parse_message_create(data)
        await asyncio.sleep(0)  # the loop's other work runs between reads, as at a gateway
    await _handlers_done()
    await bot.app.activity_recorder.flush()


async def measure(size: DispatchSize, workdir: Path) -> dict[str, Costs]:
    logging.getLogger("bot").setLevel(logging.ERROR)  # the thanks queue says it is full
    sandbox = SandboxServer()
    await sandbox.start()
    try:
        per_mode = size.chunks + 1
        world = await build_world(
            sandbox,
            IngestSize(
                events=size.chunk * per_mode * len(MODES),
                students=size.students,
                prompt_threads=size.prompt_threads,
                rounds=1,
                paced_seconds=0,
            ),
        )
        database = workdir / "dispatch.db"
        await prepare_database(database, world.guild_id, world.setup)
        runner = BotRunner(sandbox, database)
        bot = await runner.start()
        try:
            return await _measure_modes(bot, world.frames, size)
        finally:
            await runner.stop()
    finally:
        await sandbox.stop()


async def _measure_modes(bot: CohortBot, frames: list[str], size: DispatchSize) -> dict[str, Costs]:
    state = bot._connection
    real_dispatch = state.dispatch  # the client's, bound when the state was made
    costs = {label: Costs([], []) for label, _, _ in MODES}
    chunks = deque(frames[i : i + size.chunk] for i in range(0, len(frames), size.chunk))
    message_cache: deque[Any] = deque(maxlen=1000)  # discord.py's default max_messages

    def ignore(*args: Any, **kwargs: Any) -> None:
        return None

    with heap_frozen():
        try:
            for round_ in range(size.chunks + 1):
                for label, runs_bot, keeps_cache in MODES:
                    payloads = [json.loads(frame) for frame in chunks.popleft()]
                    state.dispatch = real_dispatch if runs_bot else ignore
                    state._messages = message_cache if keeps_cache else None
                    written_before = bot.app.activity_recorder.written
                    loop_started, all_started = time.thread_time(), time.process_time()
                    await _feed(bot, payloads)
                    loop_cpu = time.thread_time() - loop_started
                    # The other threads' CPU (the database worker's); never below zero, as the
                    # two clocks round differently.
                    other_cpu = max(0.0, time.process_time() - all_started - loop_cpu)
                    if round_ > 0:  # the first round warms caches (and the first intros)
                        costs[label].loop_us.append(loop_cpu / len(payloads) * 1e6)
                        costs[label].other_threads_us.append(other_cpu / len(payloads) * 1e6)
                        costs[label].recorded += bot.app.activity_recorder.written - written_before
        finally:
            state.dispatch = real_dispatch
            state._messages = None
    return costs


def rows(size: DispatchSize, costs: dict[str, Costs]) -> list[dict[str, Any]]:
    baseline = median(costs[MODES[0][0]].loop_us)
    return [
        {
            "mode": label,
            "messages": size.chunk * len(costs[label].loop_us),
            "loop µs/message": round(median(costs[label].loop_us), 1),
            "min": round(min(costs[label].loop_us), 1),
            "max": round(max(costs[label].loop_us), 1),
            "vs discord.py": f"{median(costs[label].loop_us) / baseline:.2f}×",
            "other threads µs/message": round(median(costs[label].other_threads_us), 1),
            "activity recorded": costs[label].recorded,
        }
        for label, _, _ in MODES
    ]


async def _run(size: DispatchSize) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-") as tmp:
        costs = await measure(size, Path(tmp))
    return rows(size, costs)


def run(quick: bool = False) -> list[dict[str, Any]]:
    return asyncio.run(_run(QUICK if quick else FULL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(markdown_table(run(args.quick)))


if __name__ == "__main__":
    main()
