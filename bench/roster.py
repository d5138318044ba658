"""Roster benchmark: importing a 10,000-row LMS export and a 5,000-student participation export.

Import = read the file (decode, detect the format, parse), diff it against the stored roster,
hold the preview, then Apply it; the re-import of the same file (an empty diff) is timed too.
Export = the CSV keyed by LMS id for 5,000 linked students over 12 course weeks, counts from the
other features' services, over a cohort with real participation: intros for most students, one
prompt a week answered by about 70 % of them and about as many peer replies (coffee-chat
rounds are not filled in: their query is measured by bench/digest).

Targets: import < 2 s, export < 2 s. ``python -m bench.roster [--quick]``;
``run(quick) -> list[dict]``.
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
from bot.calendar import CalendarSpec
from bot.clock import FakeClock
from bot.settings import Settings
from bot.store.times import to_db_time
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from cogs.roster import ParticipationExport, RosterService

GUILD = 1
IMPORT_ROWS = 10_000
EXPORT_STUDENTS = 5_000
WEEKS = 12
NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
TARGET_MS = 2000.0


def roster_file(rows: int, *, unknown_sections: bool = True) -> bytes:
    """A plain roster; one student in ten is in a section with no cohort (when asked)."""
    lines = ["name,email,student_id,section"]
    for i in range(rows):
        section = "Evening Section" if unknown_sections and i % 10 == 0 else "Cohort 1"
        lines.append(f"Student Number{i},student{i}@example.edu,S{i:06d},{section}")
    return ("\n".join(lines) + "\n").encode("utf-8")


async def _import_once(app: AppContext, data: bytes) -> tuple[float, float, int]:
    roster = app.services.get(RosterService)
    started = time.perf_counter()
    preview = await roster.preview(GUILD, data)
    assert preview.import_id is not None
    diff = await roster.apply(GUILD, preview.import_id, preview.diff_hash[:16])
    import_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    again = await roster.preview(GUILD, data)
    assert again.import_id is None  # the same file: nothing to change
    return import_ms, (time.perf_counter() - started) * 1000, len(diff.new)


async def _export_once(app: AppContext) -> tuple[float, int]:
    roster = app.services.get(RosterService)
    cohort = (await app.guild_settings.cohorts(GUILD))[0]
    students = [
        s for s in await roster.repository.students(GUILD) if s.cohort_id == cohort.cohort_id
    ]
    started = time.perf_counter()
    data = await app.services.get(ParticipationExport).csv(GUILD, cohort, students, NOW)
    return (time.perf_counter() - started) * 1000, data.count(b"\n") - 1


async def _participation(app: AppContext, cohort_id: int, user_ids: list[int]) -> int:
    """Intros, a prompt a week, answers and replies: the rows the export counts."""
    rng = random.Random(7)
    start = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)
    rows = 0
    async with app.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO intros (guild_id, user_id, source, channel_id, message_id, "
            "first_posted_at, posted_at, updated_at) VALUES (?, ?, 'message', 1, ?, ?, ?, ?)",
            [
                (GUILD, uid, uid, to_db_time(start), to_db_time(start), to_db_time(start))
                for uid in user_ids
                if rng.random() < 0.85
            ],
        )
        for week in range(WEEKS):
            week_start = start + timedelta(weeks=week)
            week_key = (week_start.date()).isoformat()
            cursor = await conn.execute(
                "INSERT INTO prompt_posts (guild_id, cohort_id, week_key, week_number, "
                "prompt_id, channel_id, posted_at) VALUES (?, ?, ?, ?, 1, 2, ?) RETURNING id",
                (GUILD, cohort_id, week_key, week + 1, to_db_time(week_start)),
            )
            post_id = int((await cursor.fetchone())["id"])
            answerers = [uid for uid in user_ids if rng.random() < 0.7]
            answers = []
            for uid in answerers:
                at = week_start + timedelta(hours=rng.randrange(1, 120))
                answers.append(
                    (
                        GUILD,
                        cohort_id,
                        post_id,
                        week_key,
                        uid,
                        10_000 + uid,
                        10**9 + uid * 100 + week,
                        40,
                        to_db_time(at),
                    )
                )
            await conn.executemany(
                "INSERT INTO prompt_answers (guild_id, cohort_id, post_id, week_key, user_id, "
                "place_id, message_id, words, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                answers,
            )
            ids = [
                int(row["id"])
                for row in await (
                    await conn.execute(
                        "SELECT id FROM prompt_answers WHERE post_id = ?", (post_id,)
                    )
                ).fetchall()
            ]
            replies = [
                (
                    GUILD,
                    2 * 10**12 + week * 10**7 + n,
                    answer_id,
                    rng.choice(user_ids),
                    rng.choice((8, 30)),
                    1 if rng.random() < 0.6 else 0,
                    to_db_time(week_start + timedelta(hours=rng.randrange(2, 160))),
                )
                for n, answer_id in enumerate(ids)
            ]
            await conn.executemany(
                "INSERT INTO prompt_replies (guild_id, message_id, answer_id, user_id, words, "
                "substantive, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                replies,
            )
            rows += len(answers) + len(replies)
    return rows


async def _fresh_app(tmp: str, name: str) -> AppContext:
    app = await open_app(Settings(database_path=Path(tmp) / name), clock=FakeClock(NOW))
    build_features(app)
    await app.services.get(SetupService).apply(
        GUILD, SetupRequest(student_role_id=10, timezone="America/New_York", lead_role_id=11)
    )
    return app


async def _measure(runs: int) -> dict[str, Any]:
    imports: list[float] = []
    reimports: list[float] = []
    exports: list[float] = []
    new = rows = 0
    data = roster_file(IMPORT_ROWS)
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-roster-") as tmp:
        for run_no in range(runs):
            app = await _fresh_app(tmp, f"import-{run_no}.db")
            try:
                import_ms, reimport_ms, new = await _import_once(app, data)
                imports.append(import_ms)
                reimports.append(reimport_ms)
            finally:
                await close_app(app)
        app = await _fresh_app(tmp, "export.db")
        try:
            roster = app.services.get(RosterService)
            preview = await roster.preview(
                GUILD, roster_file(EXPORT_STUDENTS, unknown_sections=False)
            )
            assert preview.import_id is not None
            await roster.apply(GUILD, preview.import_id, preview.diff_hash[:16])
            for student in await roster.repository.students(GUILD):
                await roster.repository.link(
                    GUILD, student.entry_id, 900_000 + student.entry_id, NOW
                )
            cohort = (await app.guild_settings.cohorts(GUILD))[0]
            start = date(2026, 9, 7)
            spec = CalendarSpec(start, WEEKS, "America/New_York")
            await app.calendar.save(GUILD, cohort.cohort_id, spec, NOW - timedelta(weeks=14))
            linked = [900_000 + s.entry_id for s in await roster.repository.students(GUILD)]
            await _participation(app, cohort.cohort_id, linked)
            for _ in range(runs):
                export_ms, rows = await _export_once(app)
                exports.append(export_ms)
        finally:
            await close_app(app)
    return {
        "import_rows": IMPORT_ROWS,
        "new": new,
        "import_ms": statistics.median(imports),
        "import_worst_ms": max(imports),
        "reimport_ms": statistics.median(reimports),
        "export_students": rows,
        "weeks": WEEKS,
        "export_ms": statistics.median(exports),
        "export_worst_ms": max(exports),
        "runs": runs,
        "import_ok": statistics.median(imports) < TARGET_MS,
        "export_ok": statistics.median(exports) < TARGET_MS,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row: medians (and worst) over 2 runs (--quick) or 5."""
    return [asyncio.run(_measure(2 if quick else 5))]


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| import: rows (new) | preview + Apply (target < 2 s) | re-import (no change) "
        "| export: students × weeks | export (target < 2 s) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ok_i = "✅" if r["import_ok"] else "❌"
        ok_e = "✅" if r["export_ok"] else "❌"
        out.append(
            f"| {r['import_rows']:,} ({r['new']:,}) "
            f"| {r['import_ms']:.0f} ms (worst {r['import_worst_ms']:.0f}) {ok_i} "
            f"| {r['reimport_ms']:.0f} ms | {r['export_students']:,} × {r['weeks']} "
            f"| {r['export_ms']:.0f} ms (worst {r['export_worst_ms']:.0f}) {ok_e} |"
        )
    out.append("")
    out.append(f"Medians of {rows[0]['runs']} runs; {date.today().isoformat()}.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    args = parser.parse_args()
    print(table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
