"""The coffee-chat matcher's sparse candidate graph (dual estimate, reduced top-k) and its
pairing solvers (rustworkx, the LP relaxation, PyMatching). Pure: no Discord, no I/O.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Final

import numpy as np
import numpy.typing as npt

from cogs.coffee_chats.matcher.model import (
    _SCALE,
    BEST_OF,
    FloatArray,
    IntArray,
    Solver,
    _Context,
    _effective,
    _pair_values,
)

_PM_MAX: Final = (1 << 24) - 1  # PyMatching's largest edge weight
_BLOCK_CELLS: Final = 2_000_000  # row-block size for candidate selection (cells)
_DUAL_SAMPLE: Final = 1000  # columns sampled to estimate the duals
_DUAL_ITERATIONS: Final = 3
_THRESHOLD_FACTOR: Final = 3  # top-k prefilter: a row's (3 k s/m)-th best sampled value
_LP_MIN_NODES: Final = 500  # "auto" solver: dual-guided PyMatching from this many nodes
_LP_RADIUS: Final = 20  # integer weight units (0.02 points) of reduced cost, see _solve_lp
_LP_RETRIES: Final = 3  # radius x4 per retry, then the full exact solve
_BF_MAX_ITERATIONS: Final = 1000
_WORKERS: Final = 2  # threads for the candidate passes (see _in_threads)
_PARALLEL_MIN_ROWS: Final = 2000  # below, threads cost more than they save


# --------------------------------------------------------------------------------------
# Candidate graph and solvers
# --------------------------------------------------------------------------------------


@dataclass
class _Candidates:
    top: IntArray  # (m, k) local column indices, -1 = none, best first
    weight: FloatArray  # (m, k) effective weights, -inf = none
    best_base: FloatArray  # (m,) mean base score of the best BEST_OF candidates
    dual: FloatArray  # (m,) the approximate LP duals u used to rank (see _dual_estimate)


def _block_effective(
    ctx: _Context, rows: IntArray, cols: IntArray, full: bool
) -> npt.NDArray[np.float32]:
    base = ctx.model.block32(rows, None if full else cols)
    return _effective(ctx, base, rows, cols)


def _dual_estimate(
    ctx: _Context, nodes: IntArray, k: int, seed: int
) -> tuple[FloatArray, npt.NDArray[np.float32]]:
    """Approximate LP duals u (w_ij <= u_i + u_j on good edges) from a column sample.

    Raw top-k lists all point at a few "popular" students (lots of availability, high
    shortfall), so their union often has no perfect matching. Ranking partners by the reduced
    weight w_ij - u_j instead removes the popularity: u_i is iterated towards the mean of i's
    best k reduced weights, estimated on at most _DUAL_SAMPLE random columns.
    """
    m = len(nodes)
    if m <= _DUAL_SAMPLE:
        sample = np.arange(m, dtype=np.int64)
    else:
        rng = np.random.default_rng(seed & 0xFFFFFFFF)
        sample = np.sort(rng.choice(m, _DUAL_SAMPLE, replace=False)).astype(np.int64)
    s = len(sample)
    q = max(1, min(s - 1, round(k * s / m)))
    step = max(1, _BLOCK_CELLS // max(s, 1))
    ws = np.empty((m, s), dtype=np.float32)

    def sample_block(lo: int) -> None:
        w = _block_effective(ctx, nodes[lo : lo + step], nodes[sample], False)
        w[~np.isfinite(w)] = -1e30
        ws[lo : lo + step] = w

    _in_threads(sample_block, range(0, m, step))
    r = min(s, _THRESHOLD_FACTOR * q)
    thr = np.full(m, -np.inf, dtype=np.float32)
    got = np.empty(m)
    shift = np.zeros(s, dtype=np.float32)  # the sampled columns' u (0 at first)

    def topmean_rows(lo: int) -> None:
        sl = slice(lo, lo + half)
        x = ws[sl] - shift[None, :] if shift.any() else ws[sl]
        wide = np.partition(x, s - r, axis=1)[:, s - r :]  # top r, then top q inside it
        thr[sl] = wide.min(axis=1)
        part = np.partition(wide, r - q, axis=1)[:, r - q :].astype(np.float64)
        ok = part > -1e29
        total = np.where(ok, part, 0.0).sum(axis=1)
        got[sl] = total / np.maximum(ok.sum(axis=1), 1)

    half = max(1, -(-m // 2))  # rows are independent within an iteration: two halves

    def topmean() -> FloatArray:
        _in_threads(topmean_rows, range(0, m, half))
        return got.copy()

    u = topmean() / 2.0
    for _ in range(_DUAL_ITERATIONS):
        shift[:] = u[sample]
        u = 0.5 * u + 0.5 * topmean()
    # thr: each row's r-th best reduced weight on the sample (previous u), ~ its
    # (r m / s)-th best overall: a prefilter for the top k (rows short of k fall back)
    thr[thr <= -1e29] = -np.inf
    return u, thr


def _in_threads(fn: Callable[[int], None], starts: range) -> None:
    """``fn(start)`` for each start; in _WORKERS threads when there are several and the
    array work is large. The callers' blocks are independent and numpy releases the GIL in
    their heavy parts (products, partitions, sorts): two threads take ~40 % off these passes
    when a second core is free, for the same CPU time."""
    if len(starts) < 2 or _WORKERS < 2 or starts.stop < _PARALLEL_MIN_ROWS:
        for lo in starts:
            fn(lo)
        return
    import threading  # (concurrent.futures would import logging & co on a cold start)

    errors: list[BaseException] = []

    def work(mine: range) -> None:
        try:
            for lo in mine:
                fn(lo)
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)

    workers = [
        threading.Thread(target=work, args=(starts[i::_WORKERS],), daemon=True)
        for i in range(1, _WORKERS)
    ]
    for t in workers:
        t.start()
    work(starts[0::_WORKERS])  # this thread takes its share too
    for t in workers:
        t.join()
    if errors:
        raise errors[0]


def _top_k(w: npt.NDArray[np.float32], k: int, thr: npt.NDArray[np.float32]) -> IntArray:
    """Column indices of the k largest entries of each row of ``w`` (any order).

    Only the entries >= the row's threshold are sorted (a few k per row instead of an
    argpartition of every row); rows with fewer than k such entries use argpartition.
    """
    rows, width = w.shape
    out = np.empty((rows, k), dtype=np.int64)
    mask = w >= thr[:, None]
    good = np.count_nonzero(mask, axis=1) >= k
    mask[~good] = False  # (in place: a broadcast `mask & good[:, None]` costs 10x the compare)
    flat = np.flatnonzero(mask)  # 1-D: several times faster than 2-D nonzero
    rr, cc = flat // width, flat % width
    # by row, then best first: one int64 sort key (the float32 bits made order-preserving,
    # inverted, below the row), 2.5x faster than np.lexsort and the same order
    bits = w.reshape(-1)[flat].view(np.int32).astype(np.int64)
    bits ^= (bits >> 31) & 0x7FFFFFFF
    order = np.argsort((rr << 32) | (0x7FFFFFFF - bits), kind="stable")
    rr, cc = rr[order], cc[order]
    g = np.flatnonzero(good)
    starts = np.searchsorted(rr, g)
    out[g] = cc[starts[:, None] + np.arange(k)]
    bad = np.flatnonzero(~good)
    if len(bad):
        out[bad] = np.argpartition(w[bad], width - k, axis=1)[:, width - k :]
    return out


def _select(ctx: _Context, nodes: IntArray, k: int, seed: int = 0) -> _Candidates:
    """Each node's k best allowed partners by reduced weight w_ij - u_j (see _dual_estimate).

    One vectorised pass over the (nodes x nodes) weights in float32 row blocks; the weights of
    the chosen edges are then recomputed exactly (float64).
    """
    m = len(nodes)
    k = max(1, min(k, m - 1))
    u64, thr = _dual_estimate(ctx, nodes, k, seed)
    u = u64.astype(np.float32)
    top = np.empty((m, k), dtype=np.int64)
    ok = np.empty((m, k), dtype=bool)  # allowed: not -inf in the block (self, forbidden)
    step = max(1, _BLOCK_CELLS // max(m, 1))
    full = m == ctx.model.n

    def one_block(lo: int) -> None:
        rows = nodes[lo : lo + step]
        w = _block_effective(ctx, rows, nodes, full)
        w -= u[None, :]
        # (complete graph: argsort, which drops the -inf self pair)
        got = _top_k(w, k, thr[lo : lo + step]) if k < m - 1 else np.argsort(w, axis=1)[:, 1:]
        top[lo : lo + step] = got
        ok[lo : lo + step] = np.take_along_axis(w, got, axis=1) > -np.inf

    _in_threads(one_block, range(0, m, step))
    a = np.repeat(nodes, k)
    b = nodes[top.reshape(-1)]
    mod = ctx.model
    # row i's k dot products at once: half the gathering of a per-pair einsum; the blocks
    # marked forbidden and self pairs -inf already
    low_rank = np.einsum("ij,ikj->ik", mod.left[nodes], mod.right[b.reshape(m, k)])
    base, eff = _pair_values(ctx, a, b, low_rank=low_rank.reshape(-1), allowed=ok.reshape(-1))
    base = base.reshape(m, k)
    weight = eff.reshape(m, k)
    order = np.argsort(-(weight - u[top].astype(np.float64)), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    weight = np.take_along_axis(weight, order, axis=1)
    base = np.take_along_axis(base, order, axis=1)
    top[~np.isfinite(weight)] = -1
    kb = min(BEST_OF, k)
    bvals = -np.sort(-np.where(np.isfinite(weight), base, -np.inf), axis=1)[:, :kb]
    fin = np.isfinite(bvals)
    best = np.where(fin, bvals, 0.0).sum(axis=1) / np.maximum(fin.sum(axis=1), 1)
    return _Candidates(top, weight, best, u.astype(np.float64))


def _edges_from(cand: _Candidates, k: int) -> tuple[IntArray, IntArray, FloatArray]:
    """Symmetrised, de-duplicated edge list (u < v) from the first k candidates per node."""
    m = cand.top.shape[0]
    k = min(k, cand.top.shape[1])
    u = np.repeat(np.arange(m, dtype=np.int64), k)
    v = cand.top[:, :k].reshape(-1)
    w = cand.weight[:, :k].reshape(-1)
    keep = v >= 0
    u, v, w = u[keep], v[keep], w[keep]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(lo * m + hi, return_index=True)
    return lo[first], hi[first], w[first]


def _solve_rustworkx(
    n_nodes: int, u: IntArray, v: IntArray, w: FloatArray
) -> list[tuple[int, int]]:
    import rustworkx as rx

    graph: rx.PyGraph = rx.PyGraph(multigraph=False)
    graph.add_nodes_from(range(n_nodes))
    if len(w):
        wi = np.rint(w * _SCALE).astype(np.int64)
        wi = wi - int(wi.min()) + 1  # a constant shift keeps the max-cardinality optimum
        graph.add_edges_from(list(zip(u.tolist(), v.tolist(), wi.tolist(), strict=True)))
    matched = rx.max_weight_matching(graph, max_cardinality=True, weight_fn=lambda x: x)
    return sorted((min(a, b), max(a, b)) for a, b in matched)


def _solve_lp(
    n_nodes: int, u: IntArray, v: IntArray, w: FloatArray, radius: float = _LP_RADIUS
) -> list[tuple[int, int]] | None:
    """Near-exact perfect matching: the LP relaxation fixes most pairs, rustworkx the rest.

    1. The bipartite relaxation (every edge in both directions, scipy's sparse
       Jonker-Volgenant) is the fractional-matching LP: its 2-cycles are pairs, its longer
       cycles are where the LP is fractional (odd cycles) or ambiguous (even cycles).
    2. LP duals y (y_i + y_j >= w_ij, equality on the LP solution) from the optimal
       permutation by Bellman-Ford on the residual graph (vectorised, integer weights).
    3. The *region*: students within reduced-cost distance ``radius`` (Dijkstra over
       reduced costs y_i + y_j - w_ij, LP pairs contracted) of a non-2-cycle student. The
       LP pairs outside it are kept; the region is solved exactly by rustworkx on all its
       candidate edges. The loss against the exact optimum of the candidate graph is at most
       the LP gap (sum(y) - value, measured 0.02-0.03 %) and was 0.008 % at n = 5,000.

    Returns None (caller solves exactly) when there is no perfect matching, the region has
    none after ``_LP_RETRIES`` widenings, or Bellman-Ford does not settle. Only given edges
    are ever returned.

    Long because the three steps share the relaxation's arrays and the retry loop; split,
    each would only pass them along.
    """
    import rustworkx as rx

    try:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra, min_weight_full_bipartite_matching
    except ImportError:  # pragma: no cover - scipy is optional at run time
        return None

    if n_nodes % 2 or not len(w):
        return None
    m = n_nodes
    wi = np.rint(w * _SCALE).astype(np.int64)
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    ww = np.concatenate([wi, wi])
    cost = (int(ww.max()) + 1 - ww).astype(np.float64)  # positive: scipy drops zeros
    try:
        _, sigma = min_weight_full_bipartite_matching(csr_matrix((cost, (src, dst)), (m, m)))
    except ValueError:
        return None  # not even a fractional perfect matching
    sigma = np.asarray(sigma, dtype=np.int64)
    # duals of min sum(-w): a_i + b_j <= -w_ij, equality on j = sigma(i); b via the matched
    # edge, a = shortest-path potentials: arc k -> i of length c_ij - c_k,sigma(k), j = sigma(k)
    c = -ww
    matched = dst == sigma[src]
    sig_cost = np.zeros(m, dtype=np.int64)
    sig_cost[src[matched]] = c[matched]
    inv = np.empty(m, dtype=np.int64)
    inv[sigma] = np.arange(m, dtype=np.int64)
    arc_from = inv[dst]
    arc_len = c - sig_cost[arc_from]
    a = np.zeros(m, dtype=np.int64)
    for _ in range(_BF_MAX_ITERATIONS):
        new = a.copy()
        np.minimum.at(new, src, a[arc_from] + arc_len)
        if np.array_equal(new, a):
            break
        a = new
    else:
        return None
    b = np.empty(m, dtype=np.int64)
    b[sigma] = sig_cost - a
    y2 = -(a + b)  # 2 y
    red = (y2[u] + y2[v] - 2 * wi) / 2.0  # reduced costs >= 0
    if (red < 0).any():  # pragma: no cover - the LP optimum guarantees this
        return None
    idx = np.arange(m, dtype=np.int64)
    two = sigma[sigma] == idx
    node = np.where(two, np.minimum(idx, sigma), idx)  # LP pairs contracted
    sources = np.flatnonzero(~two)
    for _ in range(_LP_RETRIES):
        if len(sources):
            nu, nv = node[u], node[v]
            near = (nu != nv) & (red <= radius)
            graph = csr_matrix((red[near] + 1e-3, (nu[near], nv[near])), (m, m))
            dist = dijkstra(graph, directed=False, indices=sources, min_only=True, limit=radius)
            free = np.isfinite(np.asarray(dist))[node]
        else:
            free = np.zeros(m, dtype=bool)
        region = np.flatnonzero(free)
        pos = np.full(m, -1, dtype=np.int64)
        pos[region] = np.arange(len(region), dtype=np.int64)
        keep = free[u] & free[v]
        sub: list[tuple[int, int]] = []
        if len(region):
            g: rx.PyGraph = rx.PyGraph(multigraph=False)
            g.add_nodes_from(range(len(region)))
            kw = wi[keep] - int(wi.min()) + 1
            g.add_edges_from(
                list(zip(pos[u[keep]].tolist(), pos[v[keep]].tolist(), kw.tolist(), strict=True))
            )
            sub = [
                (int(region[x]), int(region[z]))
                for x, z in rx.max_weight_matching(g, max_cardinality=True, weight_fn=lambda x: x)
            ]
        if 2 * len(sub) == len(region):
            fixed = np.flatnonzero(two & ~free & (idx < sigma))
            pairs = sub + list(zip(fixed.tolist(), sigma[fixed].tolist(), strict=True))
            return sorted((min(x, z), max(x, z)) for x, z in pairs)
        radius *= 4
    return None


def _extension(package: str, module: str) -> ModuleType | None:
    """The compiled extension ``package.module`` loaded without running ``package``'s
    ``__init__``; None when it is not installed.

    Such an ``__init__`` can cost far more than the extension: ``import pymatching`` also
    imports networkx, scipy.sparse and matplotlib (0.6 s on a cold start, more than the
    solve), ``scipy.optimize`` 0.3 s, while the matcher needs only PyMatching's MatchingGraph
    and scipy's compiled ``linear_sum_assignment`` (both import nothing but numpy). The
    extension is loaded from the package's folder and registered under its own name, so a
    later ordinary import reuses it. Any surprise (another layout) falls back to the
    ordinary import.
    """
    name = f"{package}.{module}"
    core = sys.modules.get(name)
    if core is not None:
        return core
    with contextlib.suppress(ImportError, OSError, ValueError, AttributeError):
        spec_of = importlib.util.find_spec(package)  # finds it without running its __init__
        for folder in (spec_of.submodule_search_locations or []) if spec_of else []:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(folder, module + suffix)
                if os.path.exists(path):
                    loader = importlib.machinery.ExtensionFileLoader(name, path)
                    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
                    if spec is None:
                        continue
                    core = importlib.util.module_from_spec(spec)
                    loader.exec_module(core)
                    sys.modules[name] = core
                    return core
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - optional fast path
        return None


def _pm_core() -> ModuleType | None:
    """PyMatching's compiled core (``pymatching._cpp_pymatching``), None when not installed."""
    return _extension("pymatching", "_cpp_pymatching")


def _pm_decode(n_nodes: int, u: IntArray, v: IntArray, cost: IntArray) -> IntArray | None:
    """PyMatching min-cost perfect matching on integer edge costs in [0, _PM_MAX).

    Returns the (n_nodes/2, 2) pairs, or None when PyMatching is unavailable, there is no
    perfect matching, or a pair is joined through a path instead of a direct edge. An anchor
    edge of weight _PM_MAX between two extra, quiet nodes makes PyMatching's weight
    normalisation the identity, so the integer costs are solved exactly. The graph is built
    directly in the compiled core (see :func:`_pm_core`).
    """
    core = _pm_core()
    if core is None or n_nodes % 2 or not len(cost):
        return None
    no_faults: set[int] = set()
    try:
        graph = core.MatchingGraph(n_nodes + 2)
        add = graph.add_edge
        for a, b, c in zip(u.tolist(), v.tolist(), cost.astype(np.float64).tolist(), strict=True):
            add(a, b, no_faults, c, -1.0, "smallest-weight")
        add(n_nodes, n_nodes + 1, no_faults, float(_PM_MAX), -1.0, "smallest-weight")
        events = np.arange(n_nodes, dtype=np.uint64)
        pairs = np.asarray(graph.decode_to_matched_detection_events_array(events), np.int64)
    except (ValueError, RuntimeError, TypeError):
        return None
    if pairs.shape != (n_nodes // 2, 2) or (pairs < 0).any():
        return None
    lo = np.minimum(pairs[:, 0], pairs[:, 1])
    hi = np.maximum(pairs[:, 0], pairs[:, 1])
    # every pair a direct edge (sorted keys + searchsorted: np.isin would import numpy.ma)
    given = np.sort(np.minimum(u, v) * (n_nodes + 2) + np.maximum(u, v))
    key = lo * (n_nodes + 2) + hi
    if not (given[np.minimum(np.searchsorted(given, key), len(given) - 1)] == key).all():
        return None
    return np.stack([lo, hi], axis=1)


def _solve_dual_pymatching(
    n_nodes: int, u: IntArray, v: IntArray, w: FloatArray, potential: FloatArray
) -> list[tuple[int, int]] | None:
    """Exact max-weight perfect matching via PyMatching on dual-reduced integer costs.

    With integer weights W = rint(w * _SCALE) and integer potentials p, every perfect
    matching M has sum_M (p_i + p_j - W_ij) = sum(p) - W(M): minimising the reduced costs
    r = p_i + p_j - W_ij (shifted to start at 0) is maximising W, exactly. With p close to the
    LP duals (the ones candidate selection already estimated) r is small and flat, which is
    what PyMatching's sparse blossom is fast on (measured 0.4 s at n = 5,000 against 14 s for
    rustworkx and 4.6 s for PyMatching on raw weights). cost = DELTA + r, DELTA > 2 max(r),
    so a two-edge path always costs more than any direct edge: if PyMatching's answer uses
    only direct edges it is the optimum of the given graph (checked; None otherwise, and when
    the costs do not fit PyMatching's integer range — then the caller falls back).
    """
    if n_nodes % 2 or not len(w):
        return None
    wi = np.rint(w * _SCALE).astype(np.int64)
    pot = np.rint(potential * _SCALE).astype(np.int64)
    r = pot[u] + pot[v] - wi
    r -= int(r.min())
    delta = 3 * int(r.max()) + 1
    if delta + int(r.max()) >= _PM_MAX:
        return None
    pairs = _pm_decode(n_nodes, u, v, delta + r)
    if pairs is None:
        return None
    return sorted(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), strict=True))


def _solve_pymatching(
    n_nodes: int, u: IntArray, v: IntArray, w: FloatArray
) -> list[tuple[int, int]] | None:
    """Min-cost perfect matching with integer cost = DELTA + (w_max - w) (raw weights).

    Exact while the weight span fits PyMatching's range at _SCALE, else scaled down (a valid
    matching, near-optimal). None when the caller must use rustworkx (see :func:`_pm_decode`).
    """
    if n_nodes % 2 or not len(w):
        return None
    span = float(w.max() - w.min())
    scale = min(float(_SCALE), ((_PM_MAX - 1) // 5) / max(span, 1e-9))
    r_int = np.rint((w.max() - w) * scale).astype(np.int64)
    delta = max(3 * int(r_int.max()), 1)  # a path of >= 2 edges costs more than any edge
    pairs = _pm_decode(n_nodes, u, v, delta + r_int)
    if pairs is None:
        return None
    return sorted(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), strict=True))


def _match_pairs(
    ctx: _Context,
    nodes: IntArray,
    cand: _Candidates,
    k: int,
    solver: Solver,
    dummy_weight: FloatArray | None,
    banned_dummy: set[int],
) -> tuple[list[tuple[int, int]], int | None, _Candidates]:
    """Max-weight, max-cardinality pairing of ``nodes`` (model rows) on the sparse graph.

    Returns (pairs of model rows, model row matched to the dummy or None, candidates).
    ``k`` doubles until the matching is perfect or the graph is complete.
    """
    m = len(nodes)
    kk = max(1, min(k, m - 1))
    while True:
        u, v, w = _edges_from(cand, kk)
        n_nodes = m
        ds = np.zeros(0, dtype=np.int64)
        if dummy_weight is not None:
            ds = np.array(
                [i for i in range(m) if int(nodes[i]) not in banned_dummy], dtype=np.int64
            )
            u = np.concatenate([u, ds])
            v = np.concatenate([v, np.full(len(ds), m, dtype=np.int64)])
            w = np.concatenate([w, dummy_weight[ds]])
            n_nodes = m + 1
        pairs: list[tuple[int, int]] | None = None
        if solver == "pymatching":
            pairs = _solve_pymatching(n_nodes, u, v, w)
        elif solver == "auto" and n_nodes >= _LP_MIN_NODES:
            potential = cand.dual[:m]
            if dummy_weight is not None:  # the dummy's potential: its typical reduced edge
                tail = w[len(w) - len(ds) :] - cand.dual[ds] if len(ds) else np.zeros(1)
                potential = np.append(potential, float(np.median(tail)))
            pairs = _solve_dual_pymatching(n_nodes, u, v, w, potential)
            if pairs is None:
                pairs = _solve_lp(n_nodes, u, v, w)
        if pairs is None:
            pairs = _solve_rustworkx(n_nodes, u, v, w)
        if len(pairs) == n_nodes // 2 or kk >= m - 1:
            break
        kk = min(2 * kk, m - 1)
        if kk > cand.top.shape[1]:
            cand = _select(ctx, nodes, kk)
    dummy_partner: int | None = None
    out: list[tuple[int, int]] = []
    for a, b in pairs:
        if b == m:
            dummy_partner = int(nodes[a])
        else:
            out.append((int(nodes[a]), int(nodes[b])))
    return out, dummy_partner, cand
