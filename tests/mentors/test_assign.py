"""The mentor round's exact assignment against brute force, and the rules' pure parts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.mentors.assign import assign
from cogs.mentors.rules import Candidate, OfferError, clean_offer, eligible, rank


def brute_force(
    students: list[int],
    free: dict[int, int],
    fit: dict[tuple[int, int], float],
    forbidden: frozenset[frozenset[int]],
) -> tuple[int, float]:
    """The best (students placed, total fit) over every assignment (None = unassigned)."""
    best = (0, 0.0)
    options = [None, *sorted(free)]
    for choice in itertools.product(options, repeat=len(students)):
        used: dict[int, int] = {}
        total = 0.0
        ok = True
        for student, mentor in zip(students, choice, strict=True):
            if mentor is None:
                continue
            if student == mentor or frozenset((student, mentor)) in forbidden:
                ok = False
                break
            used[mentor] = used.get(mentor, 0) + 1
            if used[mentor] > free[mentor]:
                ok = False
                break
            total += fit.get((student, mentor), 0.0)
        if ok:
            placed = sum(1 for m in choice if m is not None)
            if (placed, total) > (best[0], best[1] + 1e-9):
                best = (placed, total)
    return best


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[int], dict[int, int], dict, frozenset]:
    students = list(range(1, draw(st.integers(0, 5)) + 1))
    mentors = list(range(10, 10 + draw(st.integers(0, 3))))
    free = {m: draw(st.integers(0, 3)) for m in mentors}
    fit = {(s, m): float(draw(st.integers(0, 12))) for s in students for m in mentors}
    pairs = [frozenset((s, m)) for s in students for m in mentors]
    forbidden = frozenset(p for p in pairs if draw(st.booleans()) and draw(st.booleans()))
    return students, free, fit, forbidden


@settings(max_examples=150, deadline=None)
@given(instances())
def test_the_round_is_exact_against_brute_force(
    instance: tuple[list[int], dict[int, int], dict, frozenset],
) -> None:
    students, free, fit, forbidden = instance
    result = assign(students, free, fit, forbidden)
    # valid: capacities, forbidden pairs, each student once
    per_mentor: dict[int, int] = {}
    for student, mentor in result.pairs:
        assert frozenset((student, mentor)) not in forbidden
        per_mentor[mentor] = per_mentor.get(mentor, 0) + 1
    assert all(per_mentor[m] <= free[m] for m in per_mentor)
    assert sorted([s for s, _ in result.pairs] + list(result.unassigned)) == students
    # optimal: as many placed as possible, then the best total fit
    placed, total = brute_force(students, free, fit, forbidden)
    assert len(result.pairs) == placed
    assert result.total_fit == pytest.approx(total)


def test_a_forbidden_pair_is_never_assigned_even_when_it_fits_best() -> None:
    result = assign(
        [1, 2], {10: 1, 11: 1}, {(1, 10): 9.0, (2, 10): 1.0}, frozenset({frozenset((1, 10))})
    )
    assert result.pairs == ((1, 11), (2, 10))


def test_offers_are_checked() -> None:
    ok = clean_offer(["assignments"], "  group  project ", "2", ["work"], ["work", "timezone"])
    assert (ok.help_areas, ok.note, ok.capacity, ok.shown_items) == (
        ("assignments",),
        "group project",
        2,
        ("work",),
    )
    with pytest.raises(OfferError, match="1, 2 or 3"):
        clean_offer(["assignments"], "", "4", [], [])
    with pytest.raises(OfferError, match="200"):
        clean_offer([], "x" * 201, "1", [], [])
    with pytest.raises(OfferError, match="/profile"):
        clean_offer(["assignments"], "", "1", ["caregiving"], ["work"])


def test_eligible_and_rank() -> None:
    now = datetime(2026, 9, 7, tzinfo=UTC)
    assert now  # rules take ``now`` from the caller only
    people = [
        Candidate(1, 1, 0, 0),
        Candidate(2, 2, 2, 0),  # full
        Candidate(3, 3, 0, 3),  # at the weekly cap
        Candidate(4, 1, 0, 0, paused=True),
        Candidate(5, 2, 0, 0),
        Candidate(6, 2, 0, 0),  # blocked with the student
        Candidate(7, 1, 0, 0),
    ]
    allowed = eligible(
        people, student_id=7, weekly_cap=3, exclude={1}, forbidden={frozenset((6, 7))}
    )
    assert [c.user_id for c in allowed] == [5]
    ranked = rank([Candidate(1, 1, 0, 0), Candidate(5, 3, 0, 0)], {1: 4.0, 5: 4.0})
    assert [c.user_id for c in ranked] == [5, 1]  # a tie: more free places first
