"""Benchmark of the coffee-chat matcher: ``python -m bench.matching [--quick]``.

Prints a Markdown table and returns the rows from :func:`run` (for ``make bench``).

Per cohort size n (eligible students; the roster also holds ~4 % paused students who are not
passed in; ~1 % of all eligible pairs forbidden; 4 earlier rounds of random history with
some shortfall), the benchmark round is round 4:

* time: median / worst of several full ``run_matching`` calls, end to end (request in,
  result out: context, candidate selection, solve, explanations), and the median CPU time
  of this process (wall time on a shared, busy machine overstates; CPU can exceed wall when
  BLAS uses both cores). Warm: the solver libraries (scipy.sparse, PyMatching, rustworkx)
  are imported once before any timing, as the bot does at startup (a first import in a
  fresh process costs another 0.3-1 s and is not a per-round cost).
* peak: tracemalloc peak of one call (Python + numpy; the Rust solver's own heap is not seen)
* opt: objective (sum of effective weights) / reference. Reference = exact full-graph optimum
  (the same matcher on the complete graph, rustworkx) where it finishes in reasonable time,
  else an upper bound: half the value of scipy's linear_sum_assignment on the dense symmetric
  effective matrix ("UB").
* worst / p10 pair: worst and 10th-percentile pair score in the round (trios: their mean)
* viol: rule violations from ``validate`` (forbidden pairs, dropped or duplicated students…)
* nx: networkx ``max_weight_matching`` on the full graph, same weights, and its time / ours
* 12 rounds (rounds 4-15, each round ~3 % of students away so parity changes): repeats,
  the round of the first repeat, the most trios any student had next to its lower bound
  ceil(trio seats / students) (21 students, 12 odd rounds: 36 seats, so 2), and the worst
  student's mean "quality" (partner score / own best-10 candidates' average).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
import tracemalloc
from dataclasses import replace
from typing import Any

import numpy as np

from bench.synthetic import WEEK_START, make_cohort, random_history
from cogs.coffee_chats.matcher import (
    MatchHistory,
    MatchRequest,
    MatchResult,
    next_history,
    run_matching,
    score_matrix,
    validate,
)

SIZES = (20, 21, 100, 1000, 5000)
HISTORY_ROUNDS = 4


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


def _timed(req: MatchRequest) -> tuple[MatchResult, float]:
    return _timed_cpu(req)[:2]


def _timed_cpu(req: MatchRequest) -> tuple[MatchResult, float, float]:
    """(result, wall seconds, CPU seconds of this process: shows a busy shared machine)."""
    c = time.process_time()
    t = time.perf_counter()
    res = run_matching(req)
    return res, time.perf_counter() - t, time.process_time() - c


def _pair_scores(res: MatchResult) -> list[float]:
    return sorted(g.score / (3 if len(g.members) == 3 else 1) for g in res.groups)


def _upper_bound(req: MatchRequest) -> float:
    from scipy.optimize import linear_sum_assignment

    w = score_matrix(replace(req, students=tuple(sorted(req.students, key=lambda s: s.user_id))))
    w[~np.isfinite(w)] = -1e7
    rows, cols = linear_sum_assignment(w, maximize=True)
    return float(w[rows, cols].sum()) / 2.0


def _networkx_time(req: MatchRequest) -> float:
    import networkx as nx

    w = score_matrix(req)
    g = nx.Graph()
    n = len(req.students)
    for i in range(n):
        for j in range(i + 1, n):
            if np.isfinite(w[i, j]):
                g.add_edge(i, j, weight=round(float(w[i, j]) * 1000))
    t = time.perf_counter()
    nx.max_weight_matching(g, maxcardinality=True)
    return time.perf_counter() - t


def _simulate(req: MatchRequest, rounds: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    history = req.history
    start = req.round_index
    repeats = 0
    first_repeat: int | None = None
    violations = 0
    quality: dict[int, list[float]] = {}
    trios_before = dict(history.trio_counts)
    for r in range(start, start + rounds):
        away = {s.user_id for s in req.students if rng.random() < 0.03}
        students = tuple(s for s in req.students if s.user_id not in away)
        rq = replace(req, students=students, history=history, round_index=r, seed=seed + r)
        res = run_matching(rq)
        violations += len(validate(res, rq))
        repeats += res.repeats
        if res.repeats and first_repeat is None:
            first_repeat = r - start + 1
        for u, q in res.quality.items():
            quality.setdefault(u, []).append(q)
        history = next_history(history, rq, res)
    trios = {u: c - trios_before.get(u, 0) for u, c in history.trio_counts.items()}
    # nobody can have fewer than ceil(trio seats / students): the honest bound for trio_max
    seats = sum(trios.values())
    return {
        "rounds": rounds,
        "repeats": repeats,
        "first_repeat": first_repeat,
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


def _warm_imports() -> None:
    """Import what the matcher imports lazily, as the bot does at startup (see docstring)."""
    import contextlib
    import importlib

    for name in ("rustworkx", "scipy.sparse", "scipy.sparse.csgraph", "pymatching"):
        with contextlib.suppress(ImportError):  # optional: the matcher falls back without it
            importlib.import_module(name)


def run(quick: bool = False) -> list[dict[str, Any]]:
    _warm_imports()
    rows: list[dict[str, Any]] = []
    for n in SIZES:
        req = _request(n, seed=n)
        reps = 1 if (quick and n >= 5000) else (3 if n >= 1000 else 7)
        times = []
        cpu = []
        res: MatchResult | None = None
        for _ in range(reps):
            res, dt, dc = _timed_cpu(req)
            times.append(dt)
            cpu.append(dc)
        assert res is not None
        tracemalloc.start()
        run_matching(req)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        exact_limit = 100 if quick else 1000
        if n <= exact_limit:
            ref_res, ref_time = _timed(replace(req, k=n, solver="rustworkx"))
            ref, ref_kind = ref_res.objective, f"exact ({ref_time:.1f} s)"
        elif not quick or n <= 1000:
            t = time.perf_counter()
            ref = _upper_bound(req)
            ref_kind = f"UB ({time.perf_counter() - t:.1f} s)"
        else:
            ref, ref_kind = math.nan, "skipped (--quick)"
        scores = _pair_scores(res)
        row: dict[str, Any] = {
            "n": n,
            "time_median_s": statistics.median(times),
            "time_worst_s": max(times),
            "cpu_median_s": statistics.median(cpu),
            "runs": reps,
            "peak_mib": peak / 2**20,
            "opt_fraction": res.objective / ref if ref == ref else math.nan,
            "reference": ref_kind,
            "worst_pair": scores[0],
            "p10_pair": scores[len(scores) // 10],
            "violations": len(validate(res, req)),
            "unmatched": len(res.unmatched),
        }
        if n <= (100 if quick else 400):
            nx_t = _networkx_time(req)
            row["networkx_s"] = nx_t
            row["networkx_ratio"] = nx_t / statistics.median(times)
        sim_rounds = 12
        if n >= 5000 and quick:
            sim_rounds = 0
        if sim_rounds:
            row.update(_simulate(req, sim_rounds, seed=n))
        rows.append(row)
    rows.append({"n": 20, "plain_first_repeat_round": _plain_first_repeat()})
    return rows


def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "none"
    if isinstance(v, float) and v != v:
        return "–"
    return format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| n | time median / worst (runs), CPU median | peak MiB | objective / reference"
        " | worst / p10 pair"
        " | viol | networkx full (ratio) | 12 rounds: repeats, first repeat, max trios"
        " (lower bound), worst quality |"
    )
    out = [head, "|" + "---|" * 8]
    for r in rows:
        if "plain_first_repeat_round" in r:
            continue
        nx_cell = (
            f"{r['networkx_s']:.2f} s ({r['networkx_ratio']:.0f}x)" if "networkx_s" in r else "–"
        )
        sim = (
            f"{r['repeats']}, {_fmt(r['first_repeat'])}, {r['trio_max']} (≥{r['trio_bound']}),"
            f" {r['worst_quality']:.2f}"
            if "repeats" in r
            else "skipped (--quick)"
        )
        out.append(
            f"| {r['n']} | {r['time_median_s']:.3f} / {r['time_worst_s']:.3f} s ({r['runs']}),"
            f" {r['cpu_median_s']:.3f} s"
            f" | {r['peak_mib']:.1f} | {_fmt(r['opt_fraction'], '.5%')} {r['reference']}"
            f" | {r['worst_pair']:.2f} / {r['p10_pair']:.2f} | {r['violations']}"
            f" | {nx_cell} | {sim} |"
        )
    plain = next(r for r in rows if "plain_first_repeat_round" in r)
    out.append("")
    out.append(
        "n = 20, no other constraints: first repeat in round "
        f"{_fmt(plain['plain_first_repeat_round'])} (of 19 simulated)"
    )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, ~1 minute")
    args = parser.parse_args()
    print(table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
