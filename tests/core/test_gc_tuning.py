"""Garbage-collection tuning: the thresholds setting and freezing after start-up."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import bot.gc_tuning
from bot.client import CohortBot
from bot.gc_tuning import configure_thresholds, freeze_long_lived
from bot.settings import SettingsError, parse_settings
from bot.sharding import ShardPlan


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def thresholds(text: str) -> tuple[int, int, int] | None:
    return parse_settings({"COHORTBOT_GC_THRESHOLDS": text}).gc_thresholds


def test_thresholds_parse_or_say_what_is_wrong() -> None:
    assert thresholds(" 5000, 20,10 ") == (5000, 20, 10)
    for bad in ("700,10", "a,b,c", "-1,10,10", "0,10,10", "700,10,10,10"):
        with pytest.raises(SettingsError, match="COHORTBOT_GC_THRESHOLDS"):
            thresholds(bad)


def test_thresholds_come_from_the_settings_only_when_set(restore_gc: None) -> None:
    default = gc.get_threshold()
    assert configure_thresholds(parse_settings({}).gc_thresholds) == default
    assert configure_thresholds(thresholds("4000,15,12")) == (4000, 15, 12)
    assert gc.get_threshold() == (4000, 15, 12)


def test_freezing_moves_live_objects_out_of_the_collected_generations(restore_gc: None) -> None:
    gc.unfreeze()
    kept: list[list[int]] = [[] for _ in range(1000)]  # lists are tracked by the collector
    freeze_long_lived("a test")
    frozen = gc.get_freeze_count()
    assert frozen >= len(kept)
    # A second call (a reconnect, another one-time load) adds what came since.
    more: list[list[int]] = [[] for _ in range(1000)]
    freeze_long_lived("more", collect=False)
    assert gc.get_freeze_count() >= frozen + len(more)


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_freezing_while_serving_skips_the_collection(restore_gc: None) -> None:
    # The collection walks the whole heap (tens of ms with discord.py's caches loaded) and
    # stalls the event loop; with collect=False, garbage still in a cycle is frozen instead.
    gc.unfreeze()
    node = Node()
    stays = weakref.ref(node)
    del node
    freeze_long_lived("serving", collect=False)
    gc.collect()
    assert stays() is not None
    gc.unfreeze()
    gc.collect()
    assert stays() is None

    node = Node()
    goes = weakref.ref(node)
    del node
    freeze_long_lived("start-up")
    assert goes() is None


async def test_on_ready_freezes_without_a_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    # on_ready fires while events and commands are already being handled.
    calls: list[dict[str, Any]] = []

    def record(reason: str, **kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(bot.gc_tuning, "freeze_long_lived", record)
    client = CohortBot(SimpleNamespace(shards=ShardPlan()), extensions=())  # type: ignore[arg-type]
    await client.on_ready()  # never logged in: nothing to close
    assert calls == [{"collect": False}]


async def test_the_collector_is_off_while_the_guilds_load_and_on_once_they_are(
    restore_gc: None,
) -> None:
    """From the features' freeze to on_ready the member caches are being built: no full
    collection walks them while the first commands are answered; on_ready freezes them and
    turns the collector back on, and so does the time limit if on_ready never comes."""
    assert gc.isenabled()
    client = CohortBot(SimpleNamespace(shards=ShardPlan()), extensions=())  # type: ignore[arg-type]
    try:
        bot.gc_tuning.pause_while_loading(60)
        assert not gc.isenabled()
        kept = [[] for _ in range(100)]  # noqa: F841  (built while loading)
        frozen = gc.get_freeze_count()
        await client.on_ready()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + 100
        await client.on_ready()  # a reconnect: nothing else changes
        assert gc.isenabled()

        bot.gc_tuning.pause_while_loading(0.01)  # the gateway never becomes ready
        assert not gc.isenabled()
        await asyncio.sleep(0.05)
        assert gc.isenabled()

        gc.disable()  # held off by someone else (a benchmark): theirs to turn back on
        bot.gc_tuning.pause_while_loading(60)
        bot.gc_tuning.loaded("start-up")
        assert not gc.isenabled()
    finally:
        gc.enable()
        bot.gc_tuning.resume_collection("test over")
