"""A mentor round as an assignment problem, solved exactly. Pure: no discord import, no I/O.

Each mentor with ``k`` free places becomes ``k`` identical slots; each waiting student is a
row. ``scipy.optimize.linear_sum_assignment`` solves the rectangular assignment exactly. The
objective is lexicographic: first as many students placed as any assignment that respects
capacities and forbidden pairs can place, then the largest total fit. Both in one cost:
an allowed (student, slot) costs ``-(BIG + fit)`` with ``BIG`` above any total fit, a
forbidden one costs 0, so placing one more student always beats any gain in fit. A
forbidden cell the solver happens to use adds nothing and is dropped (the student stays
unassigned), which is exactly an assignment without that edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Assignment", "assign"]


@dataclass(frozen=True)
class Assignment:
    pairs: tuple[tuple[int, int], ...]  # (student, mentor), by student id
    unassigned: tuple[int, ...]
    total_fit: float


def assign(
    students: Sequence[int],
    free_places: Mapping[int, int],
    fit: Mapping[tuple[int, int], float],
    forbidden: frozenset[frozenset[int]] = frozenset(),
) -> Assignment:
    """Assign students to mentors (each mentor at most ``free_places[mentor]`` students).

    ``fit[(student, mentor)]`` is a non-negative score (missing: 0). A pair in ``forbidden``
    (an avoid or block) and a student paired with themselves are never assigned."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    slots = [m for m in sorted(free_places) for _ in range(max(0, free_places[m]))]
    if not students or not slots:
        return Assignment((), tuple(sorted(students)), 0.0)
    big = 1.0 + sum(max(0.0, v) for v in fit.values())
    cost = np.zeros((len(students), len(slots)))
    allowed = np.zeros((len(students), len(slots)), dtype=bool)
    for i, student in enumerate(students):
        for j, mentor in enumerate(slots):
            if student == mentor or frozenset((student, mentor)) in forbidden:
                continue
            allowed[i, j] = True
            cost[i, j] = -(big + max(0.0, fit.get((student, mentor), 0.0)))
    rows, cols = linear_sum_assignment(cost)
    pairs = []
    total = 0.0
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if allowed[i, j]:
            pairs.append((students[i], slots[j]))
            total += max(0.0, fit.get((students[i], slots[j]), 0.0))
    placed = {s for s, _ in pairs}
    return Assignment(
        tuple(sorted(pairs)), tuple(sorted(s for s in students if s not in placed)), total
    )
