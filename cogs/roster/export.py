"""The participation export for the gradebook: per roster student (keyed by LMS id) and per
course week, counts only — prompt answers, substantive replies, introductions, coffee chats
met. The counts come from the services other features expose for the digest."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.course_calendar import CalendarService
from bot.errors import UserFacingError
from bot.store.guilds import Cohort
from cogs.coffee_chats import MatchingService
from cogs.introductions import IntroService
from cogs.prompts import PromptService
from cogs.roster.csv_formats import write_csv
from cogs.roster.repository import Student

__all__ = ["ParticipationExport", "course_windows", "export_rows"]

Window = tuple[datetime, datetime]
COUNTS = ("prompt_answers", "substantive_replies", "introductions", "coffee_chats_met")


def course_windows(start: date, weeks: int, zone: ZoneInfo, now: datetime) -> list[Window]:
    """The course weeks begun by ``now``, oldest first: 7 days from local midnight each."""
    windows: list[Window] = []
    for week in range(weeks):
        begin = datetime.combine(start + timedelta(days=7 * week), time(), zone)
        if begin > now:
            break
        end = datetime.combine(start + timedelta(days=7 * (week + 1)), time(), zone)
        windows.append((begin, end))
    return windows


def export_rows(
    students: Sequence[Student],
    cohort_names: dict[int, str],
    weeks: int,
    counts: dict[int, list[tuple[int, int, int, int]]],
) -> tuple[list[str], list[list[object]]]:
    """Header and rows: one per student; a student never linked has zeros."""
    header = ["lms_id", "name", "cohort", "status", "linked"]
    for week in range(1, weeks + 1):
        header.extend(f"week{week}_{name}" for name in COUNTS)
    zero = [(0, 0, 0, 0)] * weeks
    rows: list[list[object]] = []
    for s in students:
        row: list[object] = [
            s.lms_id,
            s.name,
            cohort_names.get(s.cohort_id or 0, ""),
            s.status,
            "yes" if s.user_id is not None else "no",
        ]
        weekly = counts.get(s.user_id, zero) if s.user_id is not None else zero
        for per_week in weekly:
            row.extend(per_week)
        rows.append(row)
    return header, rows


@dataclass(eq=False, kw_only=True)
class ParticipationExport:
    calendar: CalendarService
    prompts: PromptService
    intros: IntroService
    matching: MatchingService

    async def csv(
        self, guild_id: int, cohort: Cohort, students: Sequence[Student], now: datetime
    ) -> bytes:
        record = await self.calendar.record(guild_id, cohort.cohort_id)
        if record is None:
            raise UserFacingError(
                f"{cohort.name} has no course calendar, so there are no course weeks to count: "
                "set one with /course calendar set."
            )
        zone = ZoneInfo(await self.calendar.timezone(guild_id))
        windows = course_windows(record.start, record.weeks, zone, now)
        counts = await self._counts(guild_id, cohort.cohort_id, windows)
        header, rows = export_rows(students, {cohort.cohort_id: cohort.name}, len(windows), counts)
        return write_csv(header, rows)

    async def _counts(
        self, guild_id: int, cohort_id: int, windows: Sequence[Window]
    ) -> dict[int, list[tuple[int, int, int, int]]]:
        size = len(windows)
        if not size:
            return {}
        newest_first = list(reversed(windows))
        prompt = await self.prompts.window_counts(
            guild_id,
            cohort_id,
            newest_first,
            unanswered_from=windows[-1][1],
            unanswered_until=windows[-1][1],
        )
        met = [
            (await self.matching.week_outcomes(guild_id, cohort_id, start, end)).met
            for start, end in windows
        ]
        intros = await self.intros.first_posted_times(guild_id)
        people = set(prompt.answers) | set(prompt.replies_substantive) | set(intros)
        for found in met:
            people |= found
        starts = [start for start, _ in windows]
        zeros = [0] * size
        result: dict[int, list[tuple[int, int, int, int]]] = {}
        for user_id in people:
            # window_counts lists newest first; the export oldest first.
            answers = (prompt.answers.get(user_id) or zeros)[::-1]
            replies = (prompt.replies_substantive.get(user_id) or zeros)[::-1]
            introduced = intros.get(user_id)
            intro_week = -1
            if introduced is not None and starts[0] <= introduced < windows[-1][1]:
                intro_week = bisect_right(starts, introduced) - 1
            result[user_id] = [
                (answers[i], replies[i], int(i == intro_week), int(user_id in met[i]))
                for i in range(size)
            ]
        return result
