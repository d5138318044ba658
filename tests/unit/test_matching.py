"""Property tests for the coffee-chat matcher (bot/matching.py): pure, fast, no I/O."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.matching import (
    AVAILABILITY_WINDOWS,
    REASON_CODES,
    Group,
    MatchHistory,
    MatchProfile,
    MatchRequest,
    MatchResult,
    common_slots,
    explain,
    next_history,
    pair_score,
    run_matching,
    score_matrix,
    validate,
)

WEEK = datetime(2026, 2, 2, 5, 0, tzinfo=UTC)  # Monday 00:00 America/New_York
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", None]
WINDOWS = sorted(AVAILABILITY_WINDOWS)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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


def simulate(
    students: tuple[MatchProfile, ...], rounds: int, **kw: Any
) -> tuple[list[MatchResult], MatchHistory]:
    history = MatchHistory()
    results = []
    for r in range(rounds):
        req = request(students, history=history, round_index=r, seed=r, **kw)
        res = run_matching(req)
        assert validate(res, req) == []
        results.append(res)
        history = next_history(history, req, res)
    return results, history


@st.composite
def instances(draw: st.DrawFn) -> MatchRequest:
    n = draw(st.integers(0, 26))
    students = make_students(n, draw(st.integers(0, 10_000)))
    ids = [s.user_id for s in students]
    pairs = [frozenset({a, b}) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.8]))
    rng = random.Random(draw(st.integers(0, 10_000)))
    forbidden = frozenset(p for p in pairs if rng.random() < density)
    return request(
        students,
        forbidden,
        group_size=draw(st.sampled_from([2, 3])),
        seed=draw(st.integers(0, 1000)),
        k=draw(st.sampled_from([3, 20])),
    )


def allowed_graph(req: MatchRequest) -> nx.Graph:
    g = nx.Graph()
    ids = [s.user_id for s in req.students]
    g.add_nodes_from(ids)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if frozenset({a, b}) not in req.forbidden_pairs:
                g.add_edge(a, b)
    return g


# ---------------------------------------------------------------- placement rules


@FAST
@given(instances())
def test_everyone_placed_once_no_forbidden_pair(req: MatchRequest) -> None:
    res = run_matching(req)
    assert validate(res, req) == []
    g = allowed_graph(req)
    for uid, why in res.unmatched:
        assert why in REASON_CODES
        if why == "no_allowed_partner":
            assert g.degree(uid) == 0
    # unmatched only when truly impossible: as many placed as a maximum matching allows
    placed = sum(len(grp.members) for grp in res.groups)
    max_card = len(nx.max_weight_matching(g, maxcardinality=True))
    assert placed >= 2 * max_card
    if req.group_size == 2 and len(req.students) >= 2:
        assert sum(len(grp.members) == 3 for grp in res.groups) == placed % 2


def test_isolated_student_is_unmatched_with_reason_and_priority_next_round() -> None:
    students = make_students(6, 1)
    x = students[0].user_id
    forbidden = frozenset(frozenset({x, s.user_id}) for s in students[1:])
    req = request(students, forbidden)
    res = run_matching(req)
    assert res.unmatched == ((x, "no_allowed_partner"),)
    assert validate(res, req) == []
    assert next_history(MatchHistory(), req, res).priority == frozenset({x})


@pytest.mark.parametrize("favoured", [0, 1])
def test_priority_decides_who_is_placed_when_not_everyone_can_be(favoured: int) -> None:
    # X and Y may each meet only A (and each other not): one of them must wait
    a, x, y = (MatchProfile(user_id=u) for u in (1, 2, 3))
    forbidden = frozenset({frozenset({2, 3})})
    prio = frozenset({(2, 3)[favoured]})
    req = request((a, x, y), forbidden, MatchHistory(priority=prio))
    res = run_matching(req)
    assert validate(res, req) == []
    assert [g.members for g in res.groups] == [tuple(sorted((1, *prio)))]
    assert res.unmatched[0][1] == "no_allowed_trio"  # three students, and X-Y forbidden


def test_single_and_empty_cohorts() -> None:
    assert run_matching(request(())).groups == ()
    res = run_matching(request(make_students(1, 0)))
    assert res.unmatched == ((100, "no_other_students"),)


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(2, [2]), (3, [3]), (4, [2, 2]), (5, [2, 3]), (6, [3, 3]), (7, [2, 2, 3]), (9, [3, 3, 3])],
)
def test_group_size_three_fills_with_pairs(n: int, sizes: list[int]) -> None:
    req = request(make_students(n, n), group_size=3)
    res = run_matching(req)
    assert validate(res, req) == []
    assert sorted(len(g.members) for g in res.groups) == sizes


@pytest.mark.parametrize("n", [5, 7, 21])
def test_group_size_two_odd_has_exactly_one_trio(n: int) -> None:
    res = run_matching(request(make_students(n, 3)))
    assert sorted(len(g.members) for g in res.groups) == [2] * ((n - 3) // 2) + [3]


# ---------------------------------------------------------------- validate() can fail


def test_validate_reports_violations() -> None:
    students = make_students(6, 2)
    forbidden = frozenset({frozenset({100, 101})})
    req = request(students, forbidden)
    good = run_matching(req)
    assert validate(good, req) == []
    bad = replace(
        good,
        groups=(
            Group((100, 101), 1.0, ()),  # forbidden pair
            Group((102, 103, 104, 100), 1.0, ()),  # size 4, 100 twice
            Group((999, 102), 1.0, ()),  # unknown id, 102 twice
        ),
        unmatched=((105, "because"),),  # unknown reason
    )
    problems = validate(bad, req)
    joined = "\n".join(problems)
    for needle in ("forbidden", "size 4", "unknown id 999", "placed 2 times", "unknown reason"):
        assert needle in joined
    dropped = replace(good, groups=good.groups[1:])
    assert any("dropped" in p for p in validate(dropped, req))
    two_trios = replace(
        good, groups=(Group((100, 102, 103), 0, ()), Group((101, 104, 105), 0, ())), unmatched=()
    )
    assert any("trios" in p for p in validate(two_trios, req))


# ---------------------------------------------------------------- determinism


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 30), st.integers(0, 99), st.sampled_from([2, 3]))
def test_deterministic_for_a_seed_and_input_order(n: int, seed: int, size: int) -> None:
    students = make_students(n, seed)
    req = request(students, seed=seed, group_size=size)
    first = run_matching(req)
    assert run_matching(req) == first
    shuffled = list(students)
    random.Random(seed).shuffle(shuffled)
    assert run_matching(replace(req, students=tuple(shuffled))) == first


# ---------------------------------------------------------------- repeats


def test_no_repeat_in_first_17_rounds_of_20() -> None:
    results, _ = simulate(make_students(20, 0, plain=True), 17)
    assert [r.repeats for r in results] == [0] * 17


def test_no_repeat_in_12_rounds_realistic_cohort() -> None:
    results, _ = simulate(make_students(24, 5), 12)
    assert sum(r.repeats for r in results) == 0


def test_forced_repeat_is_the_oldest_pair() -> None:
    # four students have exactly three pairings; the fourth round must repeat one, and the
    # one from round 0 (oldest) is the cheapest
    results, _ = simulate(make_students(4, 9), 4)
    assert [r.repeats for r in results] == [0, 0, 0, 2]
    assert {g.members for g in results[3].groups} == {g.members for g in results[0].groups}


def test_repeat_penalty_halves_every_half_life() -> None:
    students = make_students(2, 0, plain=True)
    hist = MatchHistory(groups=())
    base = run_matching(request(students, history=hist, round_index=10)).objective
    from bot.matching import PastGroup

    for age, expected in ((6, 0.5), (12, 0.25)):
        h = MatchHistory(groups=(PastGroup(10 - age, frozenset({100, 101})),))
        res = run_matching(request(students, history=h, round_index=10))
        assert res.repeats == 1
        assert base - res.objective == pytest.approx(10_000 * expected)


# ---------------------------------------------------------------- trios


@pytest.mark.parametrize(("n", "cap"), [(21, 2), (37, 1)])
def test_trios_spread_over_12_rounds(n: int, cap: int) -> None:
    # 12 rounds x 3 trio members = 36 seats: at most ceil(36 / n) each is the best possible
    assert cap == math.ceil(36 / n)
    _, history = simulate(make_students(n, 4), 12)
    assert max(history.trio_counts.values()) <= cap
    assert sum(history.trio_counts.values()) == 36


def test_trios_go_to_students_without_one_when_possible() -> None:
    # 21 students, the same one away in every even round: 6 odd rounds of 12, 18 trio seats,
    # so nobody needs a second trio
    students = make_students(21, 4)
    history = MatchHistory()
    for r in range(12):
        present = students[1:] if r % 2 == 0 else students
        req = request(present, history=history, round_index=r, seed=r)
        res = run_matching(req)
        assert validate(res, req) == []
        history = next_history(history, req, res)
    assert sum(history.trio_counts.values()) == 18
    assert max(history.trio_counts.values()) == 1


# ---------------------------------------------------------------- optimality


def _blocked_instance(n: int, seed: int, with_blocks: bool, **kw: Any) -> MatchRequest:
    students = make_students(n, seed)
    rng = random.Random(seed)
    ids = [s.user_id for s in students]
    forbidden = frozenset(
        frozenset({a, b})
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
        if with_blocks and rng.random() < 0.05
    )
    return request(students, forbidden, seed=seed, **kw)


def _networkx_optimum(req: MatchRequest) -> float | None:
    """Independent reference: networkx on the full effective score matrix (None: no
    perfect matching)."""
    n = len(req.students)
    w = score_matrix(replace(req, students=tuple(sorted(req.students, key=lambda s: s.user_id))))
    g = nx.Graph()
    for i in range(n):
        for j in range(i + 1, n):
            if np.isfinite(w[i, j]):
                g.add_edge(i, j, weight=round(float(w[i, j]) * 1000))
    pairs = nx.max_weight_matching(g, maxcardinality=True)
    if len(pairs) * 2 < n:
        return None
    return sum(float(w[i, j]) for i, j in pairs)


@settings(max_examples=12, deadline=None)
@example(n=42, seed=44, with_blocks=False)  # the sparse top-10 graph misses the optimum here
@given(st.integers(20, 70).filter(lambda n: n % 2 == 0), st.integers(0, 999), st.booleans())
def test_small_cohort_is_exactly_optimal(n: int, seed: int, with_blocks: bool) -> None:
    # small cohorts are solved on the complete graph whatever k says: exactly optimal
    req = _blocked_instance(n, seed, with_blocks, k=10)
    best = _networkx_optimum(req)
    if best is None:
        return  # no perfect matching: covered by the placement test
    assert run_matching(req).objective == pytest.approx(best, abs=1e-3 * n)


@settings(max_examples=12, deadline=None)
@example(n=42, seed=44, with_blocks=False)
@given(st.integers(20, 90).filter(lambda n: n % 2 == 0), st.integers(0, 999), st.booleans())
def test_forced_sparse_path_is_near_optimal(n: int, seed: int, with_blocks: bool) -> None:
    # the sparse candidate graph (what cohorts above _FULL_GRAPH_MAX use) is a heuristic:
    # honest bound on small random instances, k = 10
    import bot.matching as matching

    req = _blocked_instance(n, seed, with_blocks, k=10)
    best = _networkx_optimum(req)
    if best is None:
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matching, "_FULL_GRAPH_MAX", 0)
        res = run_matching(req)
    assert validate(res, req) == []
    assert res.objective <= best + 1e-3 * n
    assert res.objective >= best - 0.005 * abs(best)


# ---------------------------------------------------------------- fairness


def test_shortfall_scaling_improves_the_worst_off_student() -> None:
    students = make_students(30, 11)
    req = request(students, seed=1)
    res = run_matching(req)
    worst = min(res.quality, key=lambda u: res.quality[u])
    boosted = run_matching(replace(req, history=MatchHistory(shortfall={worst: 2.0})))
    assert boosted.quality[worst] > res.quality[worst]
    assert validate(boosted, req) == []


# ---------------------------------------------------------------- preferences


def test_similar_preference_gets_similar_partners_more_often() -> None:
    rng = random.Random(3)
    students = []
    for i in range(40):
        students.append(
            MatchProfile(
                user_id=i + 1,
                timezone="America/Chicago",
                availability=frozenset({"weekday_evenings"}),
                circumstances={"work": rng.choice(["full_time", "part_time", "student"])},
                preferences={"work": "similar" if i % 2 else "different"},
            )
        )
    by_id = {s.user_id: s for s in students}
    results, _ = simulate(tuple(students), 4)
    same = {"similar": [0, 0], "different": [0, 0]}
    for res in results:
        for g in res.groups:
            for u in g.members:
                pref = by_id[u].preferences["work"]
                for v in g.members:
                    if v != u:
                        hit = by_id[u].circumstances["work"] == by_id[v].circumstances["work"]
                        same[pref][0] += hit
                        same[pref][1] += 1
    rate = {p: s / t for p, (s, t) in same.items()}
    assert rate["similar"] > rate["different"] + 0.3


# ---------------------------------------------------------------- scores, reasons, slots


def test_pair_score_is_symmetric_and_jitter_is_small() -> None:
    a, b = make_students(2, 8)
    assert pair_score(a, b, WEEK) == pytest.approx(pair_score(b, a, WEEK))
    assert abs(pair_score(a, b, WEEK, seed=1) - pair_score(a, b, WEEK)) < 1.5
    assert pair_score(a, b, WEEK, seed=1) == pair_score(a, b, WEEK, seed=1)


def test_explain_codes() -> None:
    a = MatchProfile(
        1,
        "Europe/Berlin",
        frozenset({"weekday_evenings"}),
        {"work": "full_time", "caregiving": "young_children", "first_gen": "yes"},
    )
    b = replace(a, user_id=2, timezone="Europe/Paris")
    reasons = explain([a, b], WEEK)
    assert "same_work:full_time" in reasons
    assert "both_caregiving:young_children" in reasons
    assert "both_first_gen" in reasons
    assert "same_timezone" in reasons
    assert "overlap_hours:25" in reasons  # 5 weekday evenings x 5 h
    c = replace(b, user_id=3, circumstances={"work": "student"}, timezone="Asia/Tokyo")
    assert not any(r.startswith(("same_work", "overlap")) for r in explain([a, c], WEEK))


def test_common_slots_respect_each_time_zone() -> None:
    ny = MatchProfile(1, "America/New_York", frozenset({"weekday_mornings"}))
    berlin = MatchProfile(2, "Europe/Berlin", frozenset({"weekday_afternoons"}))
    slots = common_slots(ny, berlin, WEEK)
    assert slots
    for t in slots:
        assert t.tzinfo is not None
        ny_local = t.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
        be_local = t.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
        assert 7 <= ny_local.hour < 12 and ny_local.weekday() < 5
        assert 12 <= be_local.hour < 17 and be_local.weekday() < 5
    tokyo = MatchProfile(3, "Asia/Tokyo", frozenset({"weekday_afternoons"}))
    assert common_slots(ny, tokyo, WEEK, others=[berlin]) == []
    assert len(common_slots(ny, replace(ny, user_id=4), WEEK, limit=3)) == 3


# ---------------------------------------------------------------- LP-guided solver


def _random_graph(n: int, seed: int, density: float) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(seed)
    iu, ju = np.triu_indices(n, 1)
    keep = rng.random(len(iu)) < density
    w = np.round(rng.normal(10.0, 4.0, keep.sum()), 3)
    return iu[keep].astype(np.int64), ju[keep].astype(np.int64), w


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 30).map(lambda h: 2 * h),
    st.integers(0, 10_000),
    st.sampled_from([0.1, 0.3, 1.0]),
    st.sampled_from([0.0, 20.0, math.inf]),
)
def test_lp_solver_is_valid_and_exact_with_unlimited_radius(
    n: int, seed: int, density: float, radius: float
) -> None:
    from bot.matching import _solve_lp, _solve_rustworkx

    u, v, w = _random_graph(n, seed, density)
    got = _solve_lp(n, u, v, w, radius=radius)
    exact = _solve_rustworkx(n, u, v, w)
    if got is None:  # no perfect matching (or none found in the region): caller falls back
        return
    edges = {(int(a), int(b)): float(x) for a, b, x in zip(u, v, w, strict=True)}
    assert all(p in edges for p in got)  # only given edges
    assert sorted(x for p in got for x in p) == list(range(n))  # perfect, nobody twice
    assert len(exact) == n // 2
    best = sum(edges[p] for p in exact)
    value = sum(edges[p] for p in got)
    assert value <= best + 1e-6
    if radius == math.inf:
        assert value == pytest.approx(best, abs=1e-6)


@FAST
@given(instances())
def test_lp_path_keeps_every_rule(req: MatchRequest) -> None:
    import bot.matching as matching

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matching, "_LP_MIN_NODES", 0)
        res = run_matching(req)
        assert run_matching(req) == res  # deterministic
    assert validate(res, req) == []
    placed = sum(len(grp.members) for grp in res.groups)
    assert placed >= 2 * len(nx.max_weight_matching(allowed_graph(req), maxcardinality=True))


def test_lp_path_close_to_exact_on_a_synthetic_cohort() -> None:
    import bot.matching as matching
    from bench.synthetic import make_cohort, random_history

    cohort = make_cohort(300, 7)
    req = MatchRequest(
        cohort.eligible, cohort.forbidden, random_history(cohort, 4, 8), 4, WEEK, seed=7
    )
    exact = run_matching(replace(req, solver="rustworkx"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matching, "_LP_MIN_NODES", 0)
        res = run_matching(req)
    assert validate(res, req) == []
    assert res.objective >= exact.objective - 5e-4 * abs(exact.objective)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 30).map(lambda h: 2 * h),
    st.integers(0, 10_000),
    st.sampled_from([0.1, 0.3, 1.0]),
    st.sampled_from(["zero", "noisy", "huge"]),
)
def test_dual_pymatching_is_exact_for_any_potential(
    n: int, seed: int, density: float, kind: str
) -> None:
    # any potential gives the same optimum (sum over a perfect matching of p_i + p_j is
    # constant); good potentials only make it faster. Out-of-range costs are refused (None).
    from bot.matching import _solve_dual_pymatching, _solve_rustworkx

    u, v, w = _random_graph(n, seed, density)
    rng = np.random.default_rng(seed + 1)
    pot = {
        "zero": np.zeros(n),
        "noisy": rng.normal(5.0, 3.0, n),
        "huge": rng.normal(0.0, 1e5, n),
    }[kind]
    got = _solve_dual_pymatching(n, u, v, w, pot)
    exact = _solve_rustworkx(n, u, v, w)
    if got is None:  # no perfect matching, or (huge) costs out of PyMatching's range
        return
    edges = {(int(a), int(b)): float(x) for a, b, x in zip(u, v, w, strict=True)}
    assert all(p in edges for p in got)
    assert sorted(x for p in got for x in p) == list(range(n))
    assert len(exact) == n // 2  # found a perfect matching: one exists
    assert sum(edges[p] for p in got) == pytest.approx(sum(edges[p] for p in exact), abs=1e-6)
