"""The coffee-chat matcher's groups: seating a third, and the exact search for group size 2
(branch and bound over the trio, bounded by the fractional matching LP's duals).
Pure: no Discord, no I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from cogs.coffee_chats.matcher.candidates import (
    _extension,
)
from cogs.coffee_chats.matcher.model import (
    _SCALE,
    TRIO_PENALTY,
    TRIO_SUM_SHARE,
    FloatArray,
    IntArray,
    _Context,
    _pair_values,
)

_SWAP_CANDIDATES: Final = 24


# --------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------


def _allowed(ctx: _Context, a: int, b: int) -> bool:
    if a == b:
        return False
    fk = ctx.forb_key
    key = min(a, b) * ctx.model.n + max(a, b)
    i = int(np.searchsorted(fk, key))
    return not (i < len(fk) and int(fk[i]) == key)


def _third_fit(ctx: _Context, c: int, pairs: Sequence[tuple[int, ...]]) -> FloatArray:
    """Fit of ``c`` as the third member of each pair (-inf where a pair is not allowed)."""
    if not pairs:
        return np.zeros(0)
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    cc = np.full(len(a), c, dtype=np.int64)
    _, wa = _pair_values(ctx, cc, a)
    _, wb = _pair_values(ctx, cc, b)
    fit: FloatArray = wa + wb - _trio_cost(ctx, c, ctx.trios[a], ctx.trios[b])
    return fit


def _trio_cost(ctx: _Context, c: int, ta: FloatArray, tb: FloatArray) -> FloatArray:
    """Penalty for the trio (c, a, b) by past trios: the max count first, then the sum.

    Counts are relative to the fewest anyone has (only differences matter), so the costs stay
    small; lexicographic while the relative max stays below 1 / TRIO_SUM_SHARE - 1.
    """
    low = float(ctx.trios.min()) if len(ctx.trios) else 0.0
    tc = float(ctx.trios[c]) - low
    ta, tb = ta - low, tb - low
    worst = np.maximum(np.maximum(ta, tb), tc)
    cost: FloatArray = TRIO_PENALTY * (worst + TRIO_SUM_SHARE * (ta + tb))
    return cost


def _seat_third(
    ctx: _Context, c: int, pairs: Sequence[tuple[int, int]]
) -> list[tuple[int, ...]] | None:
    """Seat ``c`` as the third member of a group; None when no pair can take them.

    Either ``c`` joins a pair (a, b) as it is, or two pairs (a, a'), (b, b') become the trio
    (c, a, b) and the pair (a', b') — whichever is worth more after :func:`_trio_cost` (the
    trio's max past trios, then their sum, x TRIO_PENALTY: lexicographic before the fit).
    The swap lets the trio go to students who have had none yet; its candidates are the
    ``_SWAP_CANDIDATES`` members with the fewest trios, best fit with ``c`` first.
    """
    if not pairs:
        return None
    fit = _third_fit(ctx, c, pairs)
    best_val = float(np.max(fit)) if np.isfinite(fit).any() else -np.inf
    best: tuple[int, int, int] | None = (
        (int(np.argmax(fit)), -1, -1) if np.isfinite(best_val) else None
    )
    members = np.array([x for p in pairs for x in p], dtype=np.int64)
    pair_of = np.repeat(np.arange(len(pairs)), 2)
    mate = members.reshape(-1, 2)[:, ::-1].reshape(-1)
    _, wc = _pair_values(ctx, np.full(len(members), c, dtype=np.int64), members)
    _, wm = _pair_values(ctx, members, mate)
    tm = ctx.trios[members]
    gain = wc - TRIO_PENALTY * (tm - float(ctx.trios.min()))  # ranks the candidates only
    ok = np.flatnonzero(np.isfinite(gain))
    if len(ok) > _SWAP_CANDIDATES:
        ok = ok[np.argsort(-gain[ok], kind="stable")[:_SWAP_CANDIDATES]]
    if len(ok) >= 2:
        gx, gy = np.meshgrid(ok, ok, indexing="ij")
        x, y = gx.reshape(-1), gy.reshape(-1)
        keep = pair_of[x] < pair_of[y]
        x, y = x[keep], y[keep]
        _, wab = _pair_values(ctx, members[x], members[y])
        _, wnew = _pair_values(ctx, mate[x], mate[y])
        val = wc[x] + wc[y] + wab + wnew - wm[x] - wm[y] - _trio_cost(ctx, c, tm[x], tm[y])
        if len(val) and np.isfinite(val).any():
            i = int(np.argmax(np.where(np.isfinite(val), val, -np.inf)))
            if val[i] > best_val:
                best_val = float(val[i])
                best = (-1, int(x[i]), int(y[i]))
    if best is None:
        return None
    j, xi, yi = best
    if j >= 0:
        groups: list[tuple[int, ...]] = [p for i, p in enumerate(pairs) if i != j]
        groups.append((*pairs[j], c))
        return groups
    p1, p2 = int(pair_of[xi]), int(pair_of[yi])
    groups = [p for i, p in enumerate(pairs) if i not in (p1, p2)]
    groups.append((int(members[xi]), int(members[yi]), c))
    groups.append((int(mate[xi]), int(mate[yi])))
    return groups


def _trio_cost2(ta: FloatArray, tb: FloatArray, tc: FloatArray) -> IntArray:
    """Twice the :func:`_trio_cost` of trios with these past-trio counts (relative to the
    fewest present), symmetric in the three, in integer weight units."""
    worst = np.maximum(np.maximum(ta, tb), tc)
    cost = TRIO_PENALTY * (worst + TRIO_SUM_SHARE * (ta + tb + tc))
    return np.rint(2 * _SCALE * cost).astype(np.int64)


def _grouping_value2(ctx: _Context, nodes: IntArray, groups: Sequence[tuple[int, ...]]) -> int:
    """Twice what :func:`_exact_pairs` maximises, in integer units: the rounded effective
    weight of every member pair minus the trio's cost."""
    total = 0
    low = float(ctx.trios[nodes].min())
    for g in groups:
        a = np.array(g, dtype=np.int64)
        b = np.roll(a, 1) if len(g) == 3 else a[::-1][:1]
        _, eff = _pair_values(ctx, a[: len(b)], b)
        total += 2 * int(np.rint(eff * _SCALE).astype(np.int64).sum())
        if len(g) == 3:
            t = ctx.trios[a] - low
            total -= int(_trio_cost2(t[:1], t[1:2], t[2:])[0])
    return total


def _dense_duals(cost: npt.NDArray[np.float64]) -> tuple[IntArray, IntArray] | None:
    """Optimal assignment of the integer ``cost`` matrix and duals (u, v): u_i + v_j <= c_ij,
    equality on the assignment. None when Bellman-Ford does not settle (cannot happen on an
    optimal assignment; a guard)."""
    lsap = _extension("scipy.optimize", "_lsap")  # not scipy.optimize: 0.3 s to import
    if lsap is None:  # pragma: no cover - another scipy layout
        from scipy.optimize import linear_sum_assignment as solve
    else:
        solve = lsap.linear_sum_assignment
    size = cost.shape[0]
    _, sigma = solve(cost)
    c = cost.astype(np.int64)
    on = c[np.arange(size), sigma]
    # v: shortest-path potentials over columns, arc sigma(i) -> j of length c_ij - c_i,sigma(i)
    arc = c - on[:, None]
    v = np.zeros(size, dtype=np.int64)
    for _ in range(size + 2):
        new = np.minimum(v, (v[sigma][:, None] + arc).min(axis=0))
        if np.array_equal(new, v):
            u = on - v[sigma]
            return u, v
        v = new
    return None  # pragma: no cover


def _exact_pairs(
    ctx: _Context, nodes: IntArray
) -> tuple[list[tuple[int, ...]], list[tuple[int, str]]]:
    """Group size 2, exactly: pairs and at most one trio, on the complete allowed graph.

    Lexicographic: as many students placed as any grouping of pairs and one trio can place,
    then the largest value (rounded effective weights minus the trio's :func:`_trio_cost`).
    See :func:`_best_grouping` for the search; this adds who is left out and why.
    Returns (groups, unmatched with reasons) in model rows.
    """
    m = len(nodes)
    ia, ib = np.triu_indices(m, 1)
    _, eff = _pair_values(ctx, nodes[ia], nodes[ib])
    ok = np.isfinite(eff)
    ia, ib = ia[ok].astype(np.int64), ib[ok].astype(np.int64)
    wmat = np.zeros((m, m), dtype=np.int64)
    wmat[ia, ib] = wmat[ib, ia] = np.rint(eff[ok] * _SCALE).astype(np.int64)
    allowed = np.zeros((m, m), dtype=bool)
    allowed[ia, ib] = allowed[ib, ia] = True
    tr = ctx.trios[nodes] - float(ctx.trios[nodes].min())

    def rows(groups: Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
        return [tuple(int(nodes[x]) for x in g) for g in groups]

    # first assume everyone can be placed (the usual case): no "nobody" nodes
    found = _best_grouping(wmat, allowed, tr, 0)
    if found is not None:
        return rows(found), []
    # someone is left out anyway: a maximum matching tells how many, then the same search
    # with d = m - 2 nu - 1 "nobody" nodes (a trio places one more than nu pairs, or none)
    m0 = _rx_matching(m, ia, ib, wmat[ia, ib])
    nu = len(m0)
    found = _best_grouping(wmat, allowed, tr, m - 2 * nu - 1) if m - 2 * nu >= 2 else None
    if found is not None and sum(len(g) for g in found) == 2 * nu + 1:
        placed = {x for g in found for x in g}
        return rows(found), [
            (int(nodes[x]), "no_compatible_group") for x in range(m) if x not in placed
        ]
    # no trio places one more than the pairs: the maximum matching; with one left over of
    # an odd count, what is missing is a trio without a blocked or avoided pair
    covered = {x for p in m0 for x in p}
    left = [x for x in range(m) if x not in covered]
    why = "no_allowed_trio" if len(left) == 1 else "no_compatible_group"
    return rows(m0), [(int(nodes[x]), why) for x in left]


def _rx_matching(n_nodes: int, u: IntArray, v: IntArray, w: IntArray) -> list[tuple[int, int]]:
    """rustworkx maximum-weight maximum-cardinality matching on integer weights."""
    import rustworkx as rx

    g: rx.PyGraph = rx.PyGraph(multigraph=False)
    g.add_nodes_from(range(n_nodes))
    if len(w):
        ww = w - int(w.min()) + 1
        g.add_edges_from(list(zip(u.tolist(), v.tolist(), ww.tolist(), strict=True)))
    got = rx.max_weight_matching(g, max_cardinality=True, weight_fn=lambda x: x)
    return sorted((min(a, b), max(a, b)) for a, b in got)  # the set order varies per run


_FIRST_CAP: Final = 4 * _SCALE  # first reduced-cost window of a trio's re-solve (x2 units)
_CHUNK: Final = 64  # trios of one first member put on the heap at a time (the rest wait)
_FEASIBLE_TRIES: Final = 20  # trios that fail before the others are filtered, see below


def _best_grouping(
    wmat: IntArray, allowed: npt.NDArray[np.bool_], tr: FloatArray, d: int
) -> list[tuple[int, ...]] | None:
    """Best grouping that leaves exactly ``d`` students out (None: there is none).

    H = the m students + d "nobody" nodes joined to every student with weight 0 (whoever is
    matched to one is left out). With m + d even the answer is H's maximum-weight perfect
    matching; with m + d odd it is a trio T plus a perfect matching of H - T, and T is found
    by branch and bound:

    * Duals y of H's fractional matching LP (an assignment on the double cover of H,
      y_i + y_j >= W_ij) bound any perfect matching M of a subset S by y(S), and
      W(M) = y(S) - r(M) with the reduced costs r_ij = y_i + y_j - W_ij >= 0. So
      UB(T) = y(H) + y(T) - r(T) - cost(T), and a perfect matching of H - T better than the
      best value found uses only edges with r <= UB(T) - best.
    * Trios are tried best bound first (a heap; a student's trios are listed only when the
      bound for all trios with them as the first member is above the best). Each re-solve
      (rustworkx on the edges within the window) first uses a window of _FIRST_CAP; when
      that caps it, the trio goes back with the bound UB(T) - window - 1 and a wider window.
    * The search stops when no bound in the heap is above the best value: exact.

    All arithmetic is in integers, doubled (the duals are half-integral).

    Long because the bounds, the heap and the re-solve window are one search's state, read by
    its two inner helpers (``solve``, ``value2``); kept together so the search reads in order.
    """
    m = len(wmat)
    size = m + d
    big = float((int(np.abs(wmat).max(initial=0)) + 1) * 4 * size)
    cost = np.full((size, size), big)
    cost[:m, :m] = np.where(allowed, -wmat, big)
    cost[:m, m:] = 0.0
    cost[m:, :m] = 0.0
    duals = _dense_duals(cost)
    if duals is None:  # pragma: no cover - cannot happen, see _dense_duals
        return None
    y2 = -(duals[0] + duals[1])
    total2 = int(y2.sum())
    r2 = y2[:, None] + y2[None, :]
    r2[:m, :m] -= 2 * wmat
    edge = np.zeros((size, size), dtype=bool)
    edge[:m, :m] = allowed
    edge[:m, m:] = edge[m:, :m] = True
    iu, iv = np.nonzero(np.triu(edge, 1))
    iu, iv = iu.astype(np.int64), iv.astype(np.int64)
    r_edge = r2[iu, iv]

    def solve(out: Sequence[int], window: int) -> list[tuple[int, int]] | None:
        """Best perfect matching of H - out on the edges with reduced cost <= window."""
        gone = np.zeros(size, dtype=bool)
        gone[list(out)] = True
        keep = (r_edge <= window) & ~gone[iu] & ~gone[iv]
        need = (size - len(out)) // 2
        if np.count_nonzero(keep) < need:
            return None
        got = _rx_matching(size, iu[keep], iv[keep], -r_edge[keep])
        return got if len(got) == need else None

    def value2(pairs: Sequence[tuple[int, int]], trio: tuple[int, int, int] | None) -> int:
        total = 2 * sum(int(wmat[a, b]) for a, b in pairs if b < m)
        if trio is not None:
            a, b, c = trio
            total += 2 * int(wmat[a, b] + wmat[a, c] + wmat[b, c])
            total -= int(_trio_cost2(tr[[a]], tr[[b]], tr[[c]])[0])
        return total

    if size % 2 == 0:  # no trio: widen the window until the answer is certified
        window = _FIRST_CAP
        while True:
            got = solve((), window)
            if got is not None:
                gap = total2 - value2(got, None)  # r(M) of the answer
                if gap <= window:
                    return [p for p in got if p[1] < m]
            if got is None and window >= int(r_edge.max(initial=0)):
                return None  # no perfect matching at all
            window = 4 * window if got is None else gap

    best = -(1 << 62)
    best_groups: list[tuple[int, ...]] | None = None
    # per first member a: UB of every trio (a, b, c), b, c > a, is at most
    # y(H) + y_a + the two best (y_x - r_ax), x > a, minus the least cost a trio with a has
    g = np.where(edge[:m, :m] & np.triu(np.ones((m, m), dtype=bool), 1), y2[None, :m] - r2[:m, :m],
                 -(1 << 60))  # fmt: skip
    top2 = -np.sort(-g, axis=1)[:, :2] if m >= 2 else np.zeros((m, 2), dtype=np.int64)
    zeros = np.zeros(m)
    a_bound = total2 + y2[:m] + top2.sum(axis=1) - _trio_cost2(tr, zeros, zeros)
    heap: list[tuple[int, int, int, int, int, int]] = [
        (-int(a_bound[a]), 0, a, -1, -1, 0) for a in range(m - 2) if top2[a, 1] > -(1 << 59)
    ]
    heapq.heapify(heap)
    usable: npt.NDArray[np.bool_] | None = None  # see below
    listed: dict[int, tuple[list[int], list[int], list[int]]] = {}  # a's trios, best first
    failed = 0
    while heap:
        neg_ub, kind, a, b, c, window = heapq.heappop(heap)
        ub = -neg_ub
        if ub <= best:
            break
        if usable is not None and not (usable[a] and (kind != 1 or (usable[b] and usable[c]))):
            continue
        if kind == 0:  # list a's trios, best bound first
            bs = np.flatnonzero(edge[a, a + 1 : m]) + a + 1
            if usable is not None:
                bs = bs[usable[bs]]
            sub = edge[np.ix_(bs, bs)] & (bs[:, None] < bs[None, :])
            bi, ci = np.nonzero(sub)
            tb, tc = bs[bi], bs[ci]
            ubs = total2 + y2[a] + y2[tb] + y2[tc] - r2[a, tb] - r2[a, tc] - r2[tb, tc]
            ubs = ubs - _trio_cost2(np.full(len(tb), tr[a]), tr[tb], tr[tc])
            keep = np.flatnonzero(ubs > best)
            keep = keep[np.argsort(-ubs[keep], kind="stable")]
            listed[a] = (ubs[keep].tolist(), tb[keep].tolist(), tc[keep].tolist())
            kind, b = 2, 0
        if kind == 2:  # a's next _CHUNK trios; the rest waits behind the next one's bound
            ubl, tbl, tcl = listed[a]
            for i in range(b, min(b + _CHUNK, len(ubl))):
                heapq.heappush(heap, (-ubl[i], 1, a, tbl[i], tcl[i], _FIRST_CAP))
            if b + _CHUNK < len(ubl):
                heapq.heappush(heap, (-ubl[b + _CHUNK], 2, a, b + _CHUNK, -1, 0))
            continue
        # the trio's own bound (the popped ub may be a lowered one)
        full_ub = total2 + int(y2[a] + y2[b] + y2[c] - r2[a, b] - r2[a, c] - r2[b, c])
        full_ub -= int(_trio_cost2(tr[[a]], tr[[b]], tr[[c]])[0])
        span = full_ub - best
        used = span if best_groups is None else min(span, window)  # nothing found: no window
        got = solve((a, b, c), used)
        if got is not None:
            v = value2(got, (a, b, c))
            if v > best:
                best, best_groups = v, [p for p in got if p[1] < m] + [(a, b, c)]
        elif best_groups is None:
            failed += 1
            if failed == _FEASIBLE_TRIES and usable is None:
                # many trios and none leaves the others in pairs (a contrived cohort): keep
                # only students x with a perfect matching of H - x; every member of a trio
                # that works is one (the trio's other two form a pair of it)
                usable = np.array([solve((x,), 1 << 62) is not None for x in range(m)])
        if used < span and full_ub - used - 1 > best:
            heapq.heappush(heap, (-(full_ub - used - 1), 1, a, b, c, 4 * window))
    return best_groups
