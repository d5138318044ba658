"""Benchmark of the coffee-chat matcher, old against new: ``python -m bench.matching [--quick]``.

Prints a Markdown table and returns its rows from :func:`run` (for ``make bench``).

"old" is ``bench/matching_baseline.py``, a frozen copy of the matcher before exact odd
cohorts (commit 37e1f31); "new" is ``cogs/coffee_chats/matcher/``. Both run on the same requests
in one
run. Per cohort size n (eligible students; the roster also holds ~4 % paused students who
are not passed in; ~1 % of all eligible pairs forbidden; 4 earlier rounds of random history
with repeats, trio counts and shortfall), the benchmark round is round 4:

* cold: the first ``run_matching`` call in a fresh process (``python -m bench.matching
  --cold``), wall and CPU seconds, median of ``COLD_RUNS`` processes. It includes importing
  the solver libraries (rustworkx, scipy, PyMatching) and every first-use cost; the request
  is built before the clock starts (which imports ``cogs.coffee_chats.matcher`` and numpy, as the
  bot's
  service does to build it).
* warm: median wall (and CPU) time of several calls in this process after one call. On a
  shared, busy machine wall time overstates; CPU can exceed wall when BLAS uses both cores.
* value / reference: value = what the matcher maximises, computed here from
  ``score_matrix``: the effective weight of every member pair minus the trio's cost
  (TRIO_PENALTY x (most past trios in it + TRIO_SUM_SHARE x their sum), above the fewest
  present); the old matcher's groups are valued the same way. The reference is never a
  matcher: "exact" = rustworkx's maximum-weight matching on the complete graph (even n), or
  for odd n a branch and bound over the trio bounded by LP duals (scipy HiGHS) with a
  rustworkx matching of the rest per trio (:func:`exact_value`); "UB" = a certified upper
  bound, the fractional matching LP over the students plus one node whose edge to c is c's
  two best weights minus c's least possible trio cost (half of scipy's
  ``linear_sum_assignment`` on the dense symmetric matrix).
* viol / out: rule violations from ``validate``; students left unmatched.
* 12 rounds (rounds 4-15, each round ~3 % of students away so parity changes): repeats, the
  most trios any student had (next to its lower bound ceil(trio seats / students)), and the
  worst student's mean quality (partner score / own best-10 candidates' average).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any

import numpy as np

from bench.synthetic import WEEK_START, make_cohort, random_history
from cogs.coffee_chats.matcher import (
    TRIO_PENALTY,
    TRIO_SUM_SHARE,
    MatchHistory,
    MatchRequest,
    MatchResult,
    next_history,
    run_matching,
    score_matrix,
    validate,
)

SIZES = (21, 201, 1000, 5000, 5001)
QUICK_SIZES = (21, 201, 1000)
HISTORY_ROUNDS = 4
COLD_RUNS = 3
MATCHERS = {"old": "bench.matching_baseline", "new": "cogs.coffee_chats.matcher"}


def _request(n: int, seed: int) -> MatchRequest:
    cohort = make_cohort(n, seed)
    history = random_history(cohort, HISTORY_ROUNDS, seed + 1)
    return MatchRequest(
        students=cohort.eligible,
        forbidden_pairs=cohort.forbidden,
        history=history,
        round_index=HISTORY_ROUNDS,
        week_start_utc=WEEK_START,
        seed=seed,
    )


# ------------------------------------------------------------------ value and references


def _sorted(req: MatchRequest) -> MatchRequest:
    return replace(req, students=tuple(sorted(req.students, key=lambda s: s.user_id)))


def _trio_costs(req: MatchRequest) -> tuple[list[int], np.ndarray]:
    ids = sorted(s.user_id for s in req.students)
    counts = np.array([req.history.trio_counts.get(u, 0) for u in ids], dtype=float)
    return ids, counts - (counts.min() if len(counts) else 0.0)


def _trio_cost(rel: np.ndarray, a: Any, b: Any, c: Any) -> Any:
    worst = np.maximum(np.maximum(rel[a], rel[b]), rel[c])
    return TRIO_PENALTY * (worst + TRIO_SUM_SHARE * (rel[a] + rel[b] + rel[c]))


def value_of(res: MatchResult, req: MatchRequest, w: np.ndarray | None = None) -> float:
    """Effective weight of every member pair minus the trio's cost (points; each weight
    rounded to 0.001 points, as the matcher and the references round it)."""
    if w is None:
        w = score_matrix(_sorted(req))
    ids, rel = _trio_costs(req)
    pos = {u: i for i, u in enumerate(ids)}
    total = 0.0
    for g in res.groups:
        rows = [pos[u] for u in g.members]
        for x in range(len(rows)):
            for y in range(x + 1, len(rows)):
                total += round(1000 * float(w[rows[x], rows[y]]))
        if len(rows) == 3:
            total -= round(1000 * float(_trio_cost(rel, *rows)))
    return total / 1000


def _rx_matching(n: int, edges: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
    import rustworkx as rx

    g = rx.PyGraph()
    g.add_nodes_from(range(n))
    lift = 1 + max(0, -min((x for _, _, x in edges), default=0))
    g.add_edges_from(list(edges))
    return list(rx.max_weight_matching(g, max_cardinality=True, weight_fn=lambda x: x + lift))


def exact_value(req: MatchRequest, lower: float = -math.inf) -> float:
    """Exact best value (points, weights rounded to 0.001 as the matcher rounds them) when
    everyone can be placed. Even n: rustworkx on the complete graph. Odd n: branch and
    bound over the trio T; LP duals y (min sum y, y_i + y_j >= w_ij, scipy HiGHS) bound the
    pairs of the others by sum(y) - y(T); each trio whose bound beats the best so far gets
    an exact rustworkx matching of the others. Independent of the matcher's solver."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    w = score_matrix(_sorted(req))
    n = len(w)
    iu, ju = np.triu_indices(n, 1)
    ok = np.isfinite(w[iu, ju])
    iu, ju = iu[ok], ju[ok]
    wi = np.rint(w[iu, ju] * 1000).astype(np.int64)
    edges = list(zip(iu.tolist(), ju.tolist(), wi.tolist(), strict=True))
    if n % 2 == 0:
        m = _rx_matching(n, edges)
        assert 2 * len(m) == n, "not everyone can be placed"
        wm = {(a, b): x for a, b, x in edges}
        return sum(wm[(min(a, b), max(a, b))] for a, b in m) / 1000
    e = len(iu)
    lp = linprog(
        np.ones(n),
        A_ub=coo_matrix(
            (-np.ones(2 * e), (np.repeat(np.arange(e), 2), np.stack([iu, ju], 1).reshape(-1))),
            shape=(e, n),
        ),
        b_ub=-wi.astype(float),
        bounds=(None, None),
        method="highs",
    )
    assert lp.status == 0
    y = np.asarray(lp.x) + 1e-6  # a hair above: float rounding must not cut a trio
    wm2 = np.full((n, n), -np.inf)
    wm2[iu, ju] = wm2[ju, iu] = wi
    _, rel = _trio_costs(req)
    best = lower * 1000
    cands: list[tuple[float, int, int, int]] = []
    bi, ci = np.triu_indices(n, 1)
    for a in range(n - 2):
        keep = (bi > a) & np.isfinite(wm2[a, bi]) & np.isfinite(wm2[a, ci])
        keep &= np.isfinite(wm2[bi, ci])
        b, c = bi[keep], ci[keep]
        val = wm2[a, b] + wm2[a, c] + wm2[b, c] - np.rint(1000 * _trio_cost(rel, a, b, c))
        bound = y.sum() - y[a] - y[b] - y[c] + val
        top = np.flatnonzero(bound > best)
        cands += zip(
            bound[top].tolist(), [a] * len(top), b[top].tolist(), c[top].tolist(), strict=True
        )
    for bound, a, b, c in sorted(cands, reverse=True):
        if bound <= best:
            break
        rest = [(x, z, v) for x, z, v in edges if x not in (a, b, c) and z not in (a, b, c)]
        m = _rx_matching(n, rest)
        if 2 * len(m) != n - 3:
            continue
        val = sum(wm2[x, z] for x, z in m) + wm2[a, b] + wm2[a, c] + wm2[b, c]
        best = max(best, val - round(1000 * float(_trio_cost(rel, a, b, c))))
    assert best > -math.inf, "not everyone can be placed"
    return float(best) / 1000


def upper_bound(req: MatchRequest) -> float:
    """Certified upper bound on the value (see the module docstring)."""
    from scipy.optimize import linear_sum_assignment

    w = score_matrix(_sorted(req))
    n = len(w)
    w[~np.isfinite(w)] = -1e7
    np.fill_diagonal(w, -1e7)
    if n % 2:
        # any grouping with trio {a, b, c} = pairs of V - c (incl. a-b) + w_ac + w_bc - cost
        _, rel = _trio_costs(req)
        top2 = -np.sort(-w, axis=1)[:, :2].sum(axis=1)
        least = TRIO_PENALTY * (1 + TRIO_SUM_SHARE) * rel  # the other two at the fewest
        fit = top2 - least
        big = np.full((n + 1, n + 1), -1e7)
        big[:n, :n] = w
        big[:n, n] = big[n, :n] = fit
        w = big
    rows, cols = linear_sum_assignment(w, maximize=True)
    return float(w[rows, cols].sum()) / 2.0


# ------------------------------------------------------------------ timing


def _cold_child(module: str, n: int) -> None:
    """``--cold``: one first call in this fresh process; prints JSON."""
    req = _request(n, seed=n)
    c = time.process_time()
    t = time.perf_counter()
    res = importlib.import_module(module).run_matching(req)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"wall": wall, "cpu": cpu, "objective": res.objective}))


def _cold(module: str, n: int, runs: int) -> tuple[float, float]:
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-m", "bench.matching", "--cold", module, str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        got = json.loads(out.stdout.strip().splitlines()[-1])
        walls.append(got["wall"])
        cpus.append(got["cpu"])
    return statistics.median(walls), statistics.median(cpus)


def _simulate(mod: ModuleType, req: MatchRequest, rounds: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    history = req.history
    start = req.round_index
    repeats = violations = 0
    quality: dict[int, list[float]] = {}
    trios_before = dict(history.trio_counts)
    for r in range(start, start + rounds):
        away = {s.user_id for s in req.students if rng.random() < 0.03}
        students = tuple(s for s in req.students if s.user_id not in away)
        rq = replace(req, students=students, history=history, round_index=r, seed=seed + r)
        res = mod.run_matching(rq)
        violations += len(validate(res, rq))
        repeats += res.repeats
        for u, q in res.quality.items():
            quality.setdefault(u, []).append(q)
        history = next_history(history, rq, res)
    trios = {u: c - trios_before.get(u, 0) for u, c in history.trio_counts.items()}
    seats = sum(trios.values())  # nobody can have fewer than ceil(seats / students)
    return {
        "repeats": repeats,
        "trio_max": max(trios.values(), default=0),
        "trio_bound": math.ceil(seats / max(len(req.students), 1)),
        "worst_quality": min(statistics.fmean(v) for v in quality.values()),
        "sim_violations": violations,
    }


def _plain_first_repeat(n: int = 20, rounds: int = 19) -> int | None:
    cohort = make_cohort(n, 0, plain=True)
    history = MatchHistory()
    for r in range(rounds):
        req = MatchRequest(cohort.eligible, frozenset(), history, r, WEEK_START, seed=r)
        res = run_matching(req)
        if res.repeats:
            return r + 1
        history = next_history(history, req, res)
    return None


def run(quick: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in QUICK_SIZES if quick else SIZES:
        req = _request(n, seed=n)
        t = time.perf_counter()
        if n <= 1000:
            ref, kind = exact_value(req), "exact"
        else:
            ref, kind = upper_bound(req), "UB"
        ref_cell = f"{kind} {ref:,.3f} ({time.perf_counter() - t:.1f} s)"
        w = score_matrix(_sorted(req))
        for label, name in MATCHERS.items():
            mod = importlib.import_module(name)
            cold_wall, cold_cpu = _cold(name, n, 1 if quick else COLD_RUNS)
            res = mod.run_matching(req)
            reps = 3 if n >= 1000 else 7
            times: list[float] = []
            cpus: list[float] = []
            for _ in range(reps):
                c = time.process_time()
                t = time.perf_counter()
                res = mod.run_matching(req)
                times.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
            value = value_of(res, req, w)
            row: dict[str, Any] = {
                "n": n,
                "matcher": label,
                "cold s (CPU)": f"{cold_wall:.3f} ({cold_cpu:.3f})",
                "warm s (CPU)": f"{statistics.median(times):.3f} ({statistics.median(cpus):.3f})",
                "value / reference": f"{100 * value / ref:.4f} %",
                "reference": ref_cell,
                "viol": len(validate(res, req)),
                "out": len(res.unmatched),
            }
            if not (quick and n > 201):
                sim = _simulate(mod, req, 12, seed=n)
                row["12 rounds: repeats, max trios (bound), worst quality"] = (
                    f"{sim['repeats']}, {sim['trio_max']} (≥{sim['trio_bound']}),"
                    f" {sim['worst_quality']:.2f}; viol {sim['sim_violations']}"
                )
            rows.append(row)
    first = _plain_first_repeat()
    rows.append(
        {
            "n": "20, plain",
            "matcher": "new",
            "reference": f"no constraints, 19 rounds: first repeat in round {first or 'none'}",
        }
    )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    from bench.common import markdown_table

    return markdown_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n <= 1,000, one cold run each")
    parser.add_argument("--cold", nargs=2, metavar=("MODULE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        _cold_child(args.cold[0], int(args.cold[1]))
        return
    print(table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
