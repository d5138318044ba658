"""`make demo` plays the whole course week, and two runs tell the same story."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from demo.normalize import normalize
from demo.run import run_demo


async def _transcript(out: Path, database_url: str | None = None) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = await run_demo(out_dir=out, database_url=database_url)
    assert code == 0, buffer.getvalue()[-2000:]
    return buffer.getvalue().replace(str(out), "OUT")


async def test_the_demo_runs_to_the_end_and_is_the_same_every_time(tmp_path: Path) -> None:
    first = await _transcript(tmp_path / "one")
    second = await _transcript(tmp_path / "two")
    assert "Demo finished" in first
    assert (tmp_path / "one" / "participation.png").exists()
    # Ids and times aside, the transcript is a function of the code: a restructure that
    # changes behaviour shows up as a diff here (and in `python -m demo.normalize`).
    assert normalize(first) == normalize(second)


async def test_the_demo_runs_to_the_end_on_postgresql(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    """Every scene on PostgreSQL, with no error logged and no command failing. (Not compared
    line by line with the SQLite run: a few scenes act right after a message or a queued post
    without waiting for the bot to handle it, and with PostgreSQL's pool of connections the
    next read may come first; SQLite's one connection happens to keep them in order.)"""
    transcript = await _transcript(tmp_path / "pg", empty_postgres_url)
    assert "Demo finished" in transcript
    assert "something went wrong" not in transcript


def test_normalize_numbers_ids_by_first_appearance_and_blanks_times() -> None:
    user, channel = "1549042031001600004", "1549042031001600114"
    text = f"<@{user}> in <#{channel}> at <t:1796636144:R>, <@{user}>"
    assert normalize(text) == "<@#1> in <##2> at <t:T:R>, <@#1>"
