"""The digest's files: the CSV round-trips, the chart is a PNG with its description."""

from __future__ import annotations

import struct
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.digest.render import WeekPoint, chart_description, csv_bytes, parse_csv, render_chart
from cogs.digest.rules import STUDENT_COLUMNS, StudentRow

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(*[cells for _ in STUDENT_COLUMNS]), max_size=20))
def test_csv_round_trips_any_text(values: list[tuple[str, ...]]) -> None:
    rows = [StudentRow(v) for v in values]
    data = csv_bytes(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    parsed = parse_csv(data)
    assert parsed == [row.as_dict() for row in rows]


def test_formulas_are_neutralised_in_the_file() -> None:
    row = StudentRow(('=HYPERLINK("x")', *["0"] * (len(STUDENT_COLUMNS) - 1)))
    data = csv_bytes([row]).decode("utf-8-sig")
    assert "'=HYPERLINK" in data
    assert parse_csv(csv_bytes([row]))[0]["name"] == '=HYPERLINK("x")'
    for tricky in ("'=x", "'", "''", "'plain", "-3"):
        row = StudentRow((tricky, *["0"] * (len(STUDENT_COLUMNS) - 1)))
        assert parse_csv(csv_bytes([row]))[0]["name"] == tricky


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND"
    return width, height


def test_chart_is_a_png_readable_on_a_phone_with_its_description() -> None:
    start = date(2026, 9, 7)
    points = [
        WeekPoint(start + timedelta(weeks=k), active=k + 3, answers=k, replies=2 * k)
        for k in range(12)
    ]
    width, height = png_size(render_chart(points, "Cohort 1: participation per week"))
    assert width >= 900 and height >= 550
    text = chart_description(points, 30)
    assert text.startswith("Line chart of participation per week over the last 12 weeks")
    assert "active students, prompt answers, peer replies" in text
    assert "Week of Sep 07: 3 active, 0 answers, 0 replies" in text
    assert "Week of Nov 23: 14 active, 11 answers, 22 replies" in text


def test_chart_without_prompts_says_so() -> None:
    points = [WeekPoint(date(2026, 9, 7), active=2, answers=None, replies=None)]
    png_size(render_chart(points, "x"))
    text = chart_description(points, 5)
    assert "prompt answers" not in text and "Week of Sep 07: 2 active" in text
