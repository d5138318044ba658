"""Seeded synthetic cohorts for the matching benchmark and tests (no I/O).

Distributions are rough guesses at an online course with students in the Americas, Europe,
Africa, South and East Asia and Oceania; most work, a fair share care for someone, a third
are first-generation students, and most say "don't mind" to the preference questions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from cogs.coffee_chats.matcher import MatchHistory, MatchProfile, PastGroup, Preference

__all__ = ["WEEK_START", "Cohort", "make_cohort", "random_history"]

#: A Monday 00:00 in the course zone (America/New_York, EST) expressed in UTC.
WEEK_START = datetime(2026, 2, 2, 5, 0, tzinfo=UTC)

TIMEZONES: list[tuple[str | None, float]] = [
    ("America/New_York", 18),
    ("America/Chicago", 8),
    ("America/Denver", 3),
    ("America/Los_Angeles", 10),
    ("America/Mexico_City", 3),
    ("America/Bogota", 2),
    ("America/Sao_Paulo", 4),
    ("Europe/London", 8),
    ("Europe/Berlin", 7),
    ("Europe/Paris", 3),
    ("Europe/Madrid", 2),
    ("Africa/Lagos", 3),
    ("Africa/Nairobi", 2),
    ("Asia/Dubai", 2),
    ("Asia/Kolkata", 8),
    ("Asia/Singapore", 3),
    ("Asia/Manila", 3),
    ("Asia/Shanghai", 2),
    ("Asia/Tokyo", 2),
    ("Australia/Sydney", 2),
    (None, 5),  # not given: the course zone is used
]
AVAILABILITY = {
    "weekday_mornings": 0.25,
    "weekday_afternoons": 0.2,
    "weekday_evenings": 0.65,
    "weekends": 0.55,
}
CIRCUMSTANCES: dict[str, list[tuple[str | None, float]]] = {
    "work": [("full_time", 50), ("part_time", 20), ("not_working", 10), ("student", 15), (None, 5)],
    "caregiving": [
        ("none", 55),
        ("young_children", 15),
        ("school_children", 12),
        ("adult_care", 6),
        (None, 12),
    ],
    "first_gen": [("yes", 30), ("no", 55), (None, 15)],
    "prior_courses": [("none", 30), ("some", 50), ("many", 15), (None, 5)],
    "goal": [("career_change", 35), ("upskill", 35), ("degree", 15), ("personal", 10), (None, 5)],
}
PREFERENCES: dict[str, list[tuple[Preference, float]]] = {
    "timezone": [("similar", 50), ("any", 45), ("different", 5)],
    "work": [("similar", 35), ("any", 55), ("different", 10)],
    "caregiving": [("similar", 30), ("any", 65), ("different", 5)],
}


@dataclass(frozen=True)
class Cohort:
    students: tuple[MatchProfile, ...]
    forbidden: frozenset[frozenset[int]]
    paused: frozenset[int]  # on the roster but not eligible (never passed to the matcher)

    @property
    def eligible(self) -> tuple[MatchProfile, ...]:
        return tuple(s for s in self.students if s.user_id not in self.paused)


def _pick(rng: random.Random, table: list[tuple[object, float]]) -> object:
    values = [v for v, _ in table]
    weights = [w for _, w in table]
    return rng.choices(values, weights)[0]


def make_cohort(
    n: int,
    seed: int,
    *,
    blocked_fraction: float = 0.01,
    paused_extra: float = 0.04,
    plain: bool = False,
) -> Cohort:
    """``n`` eligible students (+ about ``paused_extra`` x n paused ones on the roster).

    ``blocked_fraction`` of all eligible pairs are forbidden (blocks and avoids), at least
    one when it is positive. ``plain=True``: no blocks, no pauses (the "no other constraints"
    cohort).
    """
    rng = random.Random(seed)
    n_paused = 0 if plain else round(n * paused_extra)
    students: list[MatchProfile] = []
    for i in range(n + n_paused):
        uid = 10_000 + i
        avail = frozenset(a for a, p in AVAILABILITY.items() if rng.random() < p)
        if rng.random() < 0.08:
            avail = frozenset()  # did not say
        circ = {}
        for key, table in CIRCUMSTANCES.items():
            v = _pick(rng, table)  # type: ignore[arg-type]
            if v is not None:
                circ[key] = str(v)
        prefs: dict[str, Preference] = {}
        for key, ptable in PREFERENCES.items():
            prefs[key] = _pick(rng, ptable)  # type: ignore[arg-type,assignment]
        tz = _pick(rng, TIMEZONES)  # type: ignore[arg-type]
        students.append(
            MatchProfile(
                user_id=uid,
                timezone=None if tz is None else str(tz),
                availability=avail,
                circumstances=circ,
                preferences=prefs,
            )
        )
    ids = [s.user_id for s in students]
    paused = frozenset(rng.sample(ids, n_paused))
    eligible = [u for u in ids if u not in paused]
    forbidden: set[frozenset[int]] = set()
    if not plain and blocked_fraction > 0 and len(eligible) > 1:
        want = max(1, round(blocked_fraction * len(eligible) * (len(eligible) - 1) / 2))
        while len(forbidden) < want:
            a, b = rng.sample(eligible, 2)
            forbidden.add(frozenset({a, b}))
    return Cohort(tuple(students), frozenset(forbidden), paused)


def random_history(
    cohort: Cohort, rounds: int, seed: int, *, forbidden_aware: bool = True
) -> MatchHistory:
    """``rounds`` past rounds of random pairings (rounds 0 .. rounds-1), with shortfall."""
    rng = random.Random(seed)
    ids = [s.user_id for s in cohort.eligible]
    groups: list[PastGroup] = []
    for r in range(rounds):
        order = ids[:]
        rng.shuffle(order)
        for i in range(0, len(order) - 1, 2):
            pair = frozenset(order[i : i + 2])
            if forbidden_aware and pair in cohort.forbidden:
                continue
            groups.append(PastGroup(r, pair))
    shortfall = {u: round(rng.random() * 0.5, 3) for u in ids if rng.random() < 0.3}
    return MatchHistory(groups=tuple(groups), shortfall=shortfall)
