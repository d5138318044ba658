"""Files attached to the digest: the per-student CSV and the participation chart (PNG).

No Discord and no database. matplotlib is imported inside :func:`render_chart` (it is slow to
import and only the digest needs it) and always with the Agg backend (no display).

The digest draws the chart in a worker thread (``asyncio.to_thread``) so the event loop keeps
serving commands meanwhile. matplotlib is not thread-safe, so :func:`render_chart` uses its own
:class:`~matplotlib.figure.Figure` (never pyplot and its global current figure) and draws under
a lock: two digests made at once draw one after the other, each off the loop.
"""

from __future__ import annotations

import csv
import functools
import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.text import CSV_GUARDED, csv_cell
from cogs.digest.rules import STUDENT_COLUMNS, StudentRow
from cogs.digest.tally import WeekPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "WeekPoint",
    "chart_description",
    "csv_bytes",
    "parse_csv",
    "render_chart",
    "weekly_csv_bytes",
]


def _unsafe(cell: str) -> str:
    """Undo :func:`bot.text.csv_cell`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(CSV_GUARDED) else cell


def csv_bytes(rows: Sequence[StudentRow]) -> bytes:
    """UTF-8 CSV with a BOM (so spreadsheets pick the encoding), one row per student."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(STUDENT_COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row.values])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def weekly_csv_bytes(parts: Sequence[tuple[str, Sequence[StudentRow]]]) -> bytes:
    """Several weeks in one file: a ``week_start`` column, then the per-student columns."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("week_start", *STUDENT_COLUMNS))
    for week_start, rows in parts:
        for row in rows:
            writer.writerow([week_start, *(csv_cell(value) for value in row.values)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def parse_csv(data: bytes) -> list[dict[str, str]]:
    """Read a file written by :func:`csv_bytes` back (undoing the formula guard)."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out = []
    for record in reader:
        out.append({key: _unsafe(value) for key, value in record.items()})
    return out


def chart_description(points: Sequence[WeekPoint], students: int) -> str:
    """The chart in words (its alt text): what it shows, then each week's numbers."""
    if not points:
        return "No weeks to show yet."
    series = ["active students"]
    if any(p.answers is not None for p in points):
        series.append("prompt answers")
    if any(p.replies is not None for p in points):
        series.append("peer replies")
    lines = [
        f"Line chart of participation per week over the last {len(points)} "
        f"week{'s' if len(points) != 1 else ''} ({students} students): " + ", ".join(series) + "."
    ]
    for p in points:
        parts = [f"{p.active} active"]
        if p.answers is not None:
            parts.append(f"{p.answers} answers")
        if p.replies is not None:
            parts.append(f"{p.replies} replies")
        lines.append(f"Week of {p.week_start.strftime('%b %d')}: " + ", ".join(parts))
    return "\n".join(lines)


#: Held while matplotlib is imported and set up and while a chart is drawn (see the module).
_MATPLOTLIB = threading.Lock()


@functools.cache
def _figure_class() -> type[Figure]:
    """matplotlib's Figure, imported once with the Agg backend (call it holding the lock)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure


def render_chart(points: Sequence[WeekPoint], title: str) -> bytes:
    """A PNG line chart (oldest week on the left), big type so it reads on a phone.

    Safe to call from several threads at once (see the module)."""
    with _MATPLOTLIB:
        return _draw(_figure_class(), points, title)


def _draw(figure_class: type[Figure], points: Sequence[WeekPoint], title: str) -> bytes:
    figure = figure_class(figsize=(8, 5), dpi=120)
    axes = figure.subplots()
    labels = [p.week_start.strftime("%b %d") for p in points]
    xs = list(range(len(points)))
    axes.plot(xs, [p.active for p in points], marker="o", linewidth=3, label="Active students")
    if any(p.answers is not None for p in points):
        answers = [p.answers or 0 for p in points]
        axes.plot(xs, answers, marker="s", linewidth=3, label="Prompt answers")
    if any(p.replies is not None for p in points):
        replies = [p.replies or 0 for p in points]
        axes.plot(xs, replies, marker="^", linewidth=3, label="Peer replies")
    axes.set_title(title, fontsize=18)
    axes.set_xticks(xs, labels, fontsize=13, rotation=45 if len(xs) > 6 else 0)
    axes.tick_params(axis="y", labelsize=13)
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=13, loc="best")
    # Fixed margins rather than tight_layout(), which draws the whole figure once more.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.2 if len(xs) > 6 else 0.1)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
