"""The process benchmarks work and count correctly at a tiny size (no timings are checked)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from bench import dispatch, ingest, startup
from bench.__main__ import END_MARK, START_MARK, discover, update_readme
from bench.bare_client import bare_intents
from bench.common import BenchError, markdown_table
from bot.client import build_intents


def test_bare_client_has_the_bots_intents() -> None:
    assert bare_intents().value == build_intents().value


async def test_ingest_streams_counts_and_loses_nothing(tmp_path: Path) -> None:
    # A large guild (over 250 members): each client asks for its members in chunks, and a run
    # starts only once it has been sent them.
    size = ingest.IngestSize(
        events=200, students=260, prompt_threads=4, rounds=1, paced_seconds=0.4
    )
    report = await ingest.measure(size, tmp_path)
    ingest.check(report)  # raises if CohortBot lost or invented a tracked message
    (bare,) = report.flood["bare"]
    (bot,) = report.flood["bot"]
    # The bare client counted every event (checked inside) and both read the whole stream.
    assert bare.events == bot.events == 200
    # About 65 % of the mix is tracked; all of it reached the database, SIGTERM included.
    assert 80 < bot.tracked_expected < 180
    assert bot.tracked_in_db == bot.tracked_expected and bot.missing == 0
    paced = report.paced["bot"]
    assert paced.latencies_ms and all(ms > 0 for ms in paced.latencies_ms)
    assert len(paced.probe_offsets_s) == len(paced.latencies_ms)
    assert paced.tracked_in_db == paced.tracked_expected
    # The pacing loop steps every ~2 ms, so its longest gap is at least that.
    assert paced.harness_stall_ms >= 1.0
    assert gc.isenabled() and gc.get_freeze_count() == 0  # the harness left the collector as it was
    table = markdown_table(ingest.rows(report))
    assert "CohortBot" in table and "bare discord.py" in table
    assert f"> 20 ms after {ingest.WARM_UP_SECONDS:g} s" in table


def test_the_probes_after_the_warm_up_are_told_apart_across_pooled_runs() -> None:
    first = ingest.Run("bot", 10, 1.0, latencies_ms=[50.0, 30.0, 5.0, 25.0])
    first.probe_offsets_s = [0.0, 1.99, 2.0, 3.5]
    second = ingest.Run("bot", 10, 1.0, latencies_ms=[40.0, 4.0])
    second.probe_offsets_s = [0.05, 2.1]
    pooled = ingest.pool("bot", [first, second])
    assert ingest.after_warm_up(pooled) == [5.0, 25.0, 4.0]
    assert ingest.slow_share(ingest.after_warm_up(pooled)) == pytest.approx(1 / 3)
    assert ingest.slow_share(pooled.latencies_ms) == pytest.approx(4 / 6)


def test_the_harness_collector_is_paused_only_for_a_paced_run() -> None:
    with pytest.raises(RuntimeError), ingest.collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a run that fails")
    assert gc.isenabled()


def test_the_harness_heap_is_frozen_only_while_it_measures() -> None:
    kept: list[list[int]] = [[] for _ in range(100)]
    with ingest.heap_frozen():
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0


def test_ingest_check_refuses_a_lost_message() -> None:
    lost = ingest.Run("bot", 10, 1.0, tracked_expected=7, tracked_in_db=6, missing=1)
    ok = ingest.Run("bot", 10, 1.0, tracked_expected=7, tracked_in_db=7)
    report = ingest.IngestReport(ingest.QUICK, 10, {"bare": [], "bot": [lost]}, {"bot": ok}, 1.0)
    with pytest.raises(BenchError):
        ingest.check(report)
    report.flood["bot"] = [ok]
    ingest.check(report)


async def test_startup_chunks_every_member_of_large_guilds(tmp_path: Path) -> None:
    # 300 members > 250: GUILD_CREATE carries only the bot; members come in chunks.
    size = startup.StartupSize(guilds=2, members=300, rounds=1)
    runs = await startup.measure(size, tmp_path)
    for kind in ("bare", "bot"):
        (run,) = runs[kind]
        assert run.seconds > 0 and run.peak_rss_mb > 0
    rows = startup.rows(size, runs)
    assert rows[0]["guilds × members"] == "2 × 300"


def test_runner_finds_benchmarks_and_updates_the_readme(tmp_path: Path) -> None:
    found = discover()
    assert {"ingest", "startup"} <= set(found)
    assert not {"common", "bare_client"} & set(found)
    results = tmp_path / "latest.md"
    results.write_text("| a |\n|---|\n| 1 |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# X\n\n## Performance\n\n{START_MARK}\nold\n{END_MARK}\n\nnotes\n")
    update_readme(results, readme)
    text = readme.read_text()
    assert "old" not in text and "| 1 |" in text and text.endswith("notes\n")


def test_update_after_only_some_benchmarks_keeps_the_other_tables(tmp_path: Path) -> None:
    def section(name: str, value: str) -> str:
        return f"#### Title of {name}\n\n`bench.{name}`, 1 s\n\n| v |\n|---|\n| {value} |"

    full = "Measured 2026-01-01 with `make bench` on 2 CPU(s).\n\n" + "\n\n".join(
        section(name, f"old {name}") for name in ("digest", "ingest", "startup")
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# X\n\n{START_MARK}\n{full}\n{END_MARK}\n\nnotes\n")
    results = tmp_path / "latest.md"
    only = "Measured 2026-02-02 with `python -m bench --only ingest` on 2 CPU(s).\n\n"
    results.write_text(only + section("ingest", "new ingest") + "\n")
    update_readme(results, readme)
    text = readme.read_text()
    assert "old digest" in text and "old startup" in text and "new ingest" in text
    assert "old ingest" not in text
    assert text.index("old digest") < text.index("new ingest") < text.index("old startup")
    assert "2026-01-01 with `make bench`" in text and "2026-02-02" in text
    # The same partial run again replaces its own header line; a full run replaces everything.
    update_readme(results, readme)
    assert readme.read_text().count("--only ingest") == 1
    results.write_text(full.replace("old", "fresh") + "\n")
    update_readme(results, readme)
    text = readme.read_text()
    assert "old" not in text and "--only" not in text and text.endswith("notes\n")


async def test_ingest_on_both_stores_loses_nothing(tmp_path: Path) -> None:
    size = ingest.IngestSize(events=200, students=20, prompt_threads=4, rounds=1, paced_seconds=0)
    runs = await ingest.measure_stores(size, tmp_path)
    for store in ("SQLite", "PostgreSQL"):
        (run,) = runs[store]
        assert run.events == 200 and 80 < run.tracked_expected < 180
        assert run.tracked_in_db == run.tracked_expected and run.missing == run.unexpected == 0
    rows = ingest.store_rows(runs)
    assert [r["CohortBot on"] for r in rows] == ["SQLite", "PostgreSQL"]
    assert rows[0]["vs SQLite"] == "100%"


async def test_dispatch_measures_each_mode_and_only_the_bot_records(tmp_path: Path) -> None:
    size = dispatch.DispatchSize(students=20, prompt_threads=4, chunk=60, chunks=1)
    costs = await dispatch.measure(size, tmp_path)
    assert set(costs) == {label for label, _, _ in dispatch.MODES}
    for label, runs_bot, _ in dispatch.MODES:
        (loop_us,) = costs[label].loop_us
        assert loop_us > 0
        # About 65 % of the stream is in tracked places: the bot's modes counted it.
        assert (costs[label].recorded > 0) is runs_bot
    table = markdown_table(dispatch.rows(size, costs))
    assert "CohortBot as shipped" in table and "1.00×" in table
