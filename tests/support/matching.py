"""Synthetic cohorts for the matcher's tests: seeded students and a request around them."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from cogs.coffee_chats.matcher import (
    AVAILABILITY_WINDOWS,
    MatchHistory,
    MatchProfile,
    MatchRequest,
)

WEEK = datetime(2026, 2, 2, 5, 0, tzinfo=UTC)  # Monday 00:00 America/New_York
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", None]
WINDOWS = sorted(AVAILABILITY_WINDOWS)


def make_students(n: int, seed: int, *, plain: bool = False) -> tuple[MatchProfile, ...]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if plain:
            out.append(MatchProfile(user_id=100 + i))
            continue
        out.append(
            MatchProfile(
                user_id=100 + i,
                timezone=rng.choice(ZONES),
                availability=frozenset(w for w in WINDOWS if rng.random() < 0.5),
                circumstances={
                    k: rng.choice(v)
                    for k, v in {
                        "work": ["full_time", "part_time", "student"],
                        "caregiving": ["none", "young_children"],
                        "first_gen": ["yes", "no"],
                    }.items()
                    if rng.random() < 0.85
                },
                preferences={
                    k: rng.choice(["similar", "different", "any"])
                    for k in ("timezone", "work", "caregiving")
                },
            )
        )
    return tuple(out)


def request(
    students: tuple[MatchProfile, ...],
    forbidden: frozenset[frozenset[int]] = frozenset(),
    history: MatchHistory | None = None,
    *,
    round_index: int = 0,
    **kw: Any,
) -> MatchRequest:
    return MatchRequest(
        students=students,
        forbidden_pairs=forbidden,
        history=history or MatchHistory(),
        round_index=round_index,
        week_start_utc=WEEK,
        **kw,
    )
