"""Garbage-collection tuning: the thresholds setting and freezing after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.gc_tuning import THRESHOLDS_ENV, configure_thresholds, freeze_long_lived, parse_thresholds


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def test_thresholds_parse_or_say_what_is_wrong() -> None:
    assert parse_thresholds(" 5000, 20,10 ") == (5000, 20, 10)
    for bad in ("700,10", "a,b,c", "-1,10,10", "0,10,10", "700,10,10,10"):
        with pytest.raises(ValueError, match=THRESHOLDS_ENV):
            parse_thresholds(bad)


def test_thresholds_come_from_the_environment_only_when_set(restore_gc: None) -> None:
    default = gc.get_threshold()
    assert configure_thresholds({}) == default
    assert configure_thresholds({THRESHOLDS_ENV: "4000,15,12"}) == (4000, 15, 12)
    assert gc.get_threshold() == (4000, 15, 12)


def test_freezing_moves_live_objects_out_of_the_collected_generations(restore_gc: None) -> None:
    gc.unfreeze()
    kept: list[list[int]] = [[] for _ in range(1000)]  # lists are tracked by the collector
    frozen = freeze_long_lived("a test")
    assert frozen >= len(kept) and gc.get_freeze_count() == frozen
    # A second call (a reconnect, another one-time load) adds what came since.
    more: list[list[int]] = [[] for _ in range(1000)]
    assert freeze_long_lived("more") >= frozen + len(more)
