"""Digest benchmark: a cohort of 5,000 students over 12 weeks with 500,000 activity rows.

Times, in the same run and on the same temporary SQLite file: the raw SQL aggregate queries
over ``activity`` alone (the statements the digest runs, executed directly), the digest's
queries as the service runs them (every feature's aggregates, turned into Python values),
and the whole digest (queries, needs-attention, per-student table, CSV, chart, pagination).

Targets: queries < 150 ms (raw aggregates measured at about 94 ms on a 2-core machine),
whole digest < 1 s. ``python -m bench.digest [--quick]``; ``run(quick) -> list[dict]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

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
    await app.db.execute_write("ANALYZE")
    joined = AS_OF - timedelta(weeks=WEEKS + 1)
    return [StudentRef(uid, f"Student {uid}", joined) for uid in user_ids]


async def _raw_queries(app: AppContext, refs: list[StudentRef]) -> float:
    windows = week_windows(AS_OF, await app.services.get(DigestService).zone(GUILD), WEEKS)
    sql, params = DigestRepository.activity_query(GUILD, [r.user_id for r in refs], windows)
    started = time.perf_counter()
    await app.db.fetchall(sql, params)
    return (time.perf_counter() - started) * 1000


async def _measure(runs: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-digest-") as tmp:
        app = await open_app(Settings(database_path=Path(tmp) / "bench.db"), clock=FakeClock(AS_OF))
        build_features(app)
        try:
            fill_started = time.perf_counter()
            refs = await _populate(app, seed)
            fill_s = time.perf_counter() - fill_started
            cohort = (await app.guild_settings.cohorts(GUILD))[0]
            raw: list[float] = []
            queries: list[float] = []
            totals: list[float] = []
            charts: list[float] = []
            csvs: list[float] = []
            attention = 0
            messages = 0
            button_rows = 0
            list_pages = 0
            await _raw_queries(app, refs)  # warm the page cache once, for both measurements alike
            for _ in range(runs):
                raw.append(await _raw_queries(app, refs))
                started = time.perf_counter()
                built = await app.services.get(DigestService).compute(GUILD, cohort, refs, AS_OF)
                totals.append((time.perf_counter() - started) * 1000)
                queries.append(built.timings["queries"] * 1000)
                charts.append(built.timings["chart"] * 1000)
                csvs.append(built.timings["csv"] * 1000)
                attention = len(built.model.attention)
                messages = len(built.messages)
                button_rows = len(attention_user_ids(built.messages))
                list_pages = sum(1 for m in built.messages if m.list_page)
            rows = await app.db.fetchone("SELECT COUNT(*) AS n FROM activity")
            assert rows is not None and int(rows["n"]) == ACTIVITY_ROWS
        finally:
            await close_app(app)
    return {
        "students": STUDENTS,
        "weeks": WEEKS,
        "activity_rows": ACTIVITY_ROWS,
        "runs": runs,
        "fill_s": fill_s,
        "raw_sql_ms": statistics.median(raw),
        "raw_sql_worst_ms": max(raw),
        "queries_ms": statistics.median(queries),
        "queries_worst_ms": max(queries),
        "chart_ms": statistics.median(charts),
        "csv_ms": statistics.median(csvs),
        "total_ms": statistics.median(totals),
        "total_worst_ms": max(totals),
        "needs_attention": attention,
        "messages": messages,
        "button_rows": button_rows,
        "list_pages": list_pages,
        "queries_ok": statistics.median(queries) < QUERY_TARGET_MS,
        "total_ok": statistics.median(totals) < TOTAL_TARGET_MS,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row: the medians (and worst) over 3 runs (--quick) or 7."""
    return [asyncio.run(_measure(3 if quick else 7, seed=8))]


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| students × weeks, activity rows | raw SQL aggregates | digest queries (target"
        " < 150 ms) | chart | CSV | whole digest (target < 1 s) | needs attention, messages"
        " (with buttons + list pages) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok_q = "✅" if r["queries_ok"] else "❌"
        ok_t = "✅" if r["total_ok"] else "❌"
        out.append(
            f"| {r['students']:,} × {r['weeks']}, {r['activity_rows']:,} "
            f"| {r['raw_sql_ms']:.0f} ms (worst {r['raw_sql_worst_ms']:.0f}) "
            f"| {r['queries_ms']:.0f} ms (worst {r['queries_worst_ms']:.0f}) {ok_q} "
            f"| {r['chart_ms']:.0f} ms | {r['csv_ms']:.0f} ms "
            f"| {r['total_ms']:.0f} ms (worst {r['total_worst_ms']:.0f}) {ok_t} "
            f"| {r['needs_attention']:,}, {r['messages']} ({r['button_rows'] // 5} with "
            f"{r['button_rows']} button rows + {r['list_pages']} list pages) |"
        )
    out.append("")
    out.append(f"Medians of {rows[0]['runs']} runs; {date.today().isoformat()}.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 7")
    args = parser.parse_args()
    print(table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
