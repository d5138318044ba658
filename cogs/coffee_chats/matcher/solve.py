"""The coffee-chat matcher's entry points: :func:`run_matching` (pairs or trios mode),
:func:`validate` and :func:`next_history`. Pure: no Discord, no I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import MappingProxyType
from typing import Final

import numpy as np

from cogs.coffee_chats.matcher.candidates import (
    _Candidates,
    _match_pairs,
    _select,
    _solve_rustworkx,
)
from cogs.coffee_chats.matcher.exact import (
    _allowed,
    _exact_pairs,
    _seat_third,
    _third_fit,
)
from cogs.coffee_chats.matcher.model import (
    REASON_CODES,
    SHORTFALL_DECAY,
    TRIO_PENALTY,
    FloatArray,
    Group,
    IntArray,
    MatchHistory,
    MatchProfile,
    MatchRequest,
    MatchResult,
    PastGroup,
    Solver,
    _build_context,
    _Context,
    _explain_pairs,
    _explain_rows,
    _pair_values,
)

_MAX_THIRD_TRIES: Final = 4
_FULL_GRAPH_MAX: Final = 200  # up to this many students: complete candidate graph
_EXACT_MAX: Final = 250  # up to this many students, group size 2 is solved by _exact_pairs
_EXACT_FALLBACK_MAX: Final = 2000  # larger: _exact_pairs only when the sparse path leaves
# someone out, up to this many (its dense duals are O(n^2) memory)


_BLAS_LIMIT_MIN: Final = 64  # students; smaller rounds' products are single-threaded anyway


def _pairs_mode(
    ctx: _Context, nodes: IntArray, k: int, solver: Solver
) -> tuple[list[tuple[int, ...]], list[tuple[int, str]], _Candidates | None]:
    """Group size 2: pairs, plus exactly one trio when the count is odd."""
    m = len(nodes)
    if m < 2:
        return [], [(int(x), "no_other_students") for x in nodes], None
    cand = _select(ctx, nodes, k)
    if m <= _EXACT_MAX:  # small cohort: exact on the complete graph (milliseconds)
        exact_groups, exact_out = _exact_pairs(ctx, nodes)
        return exact_groups, exact_out, cand
    if m == 3:
        a, b, c = (int(x) for x in nodes)
        if _allowed(ctx, a, b) and _allowed(ctx, a, c) and _allowed(ctx, b, c):
            return [(a, b, c)], [], cand
    dummy_w: FloatArray | None = None
    if m % 2:
        top2 = -np.sort(-np.where(np.isfinite(cand.weight), cand.weight, 0.0), axis=1)[:, :2]
        fit = top2.sum(axis=1)
        rel = ctx.trios[nodes] - float(ctx.trios[nodes].min())  # only differences matter
        dummy_w = fit - TRIO_PENALTY * rel
    banned: set[int] = set()
    while dummy_w is not None and len(banned) < min(m, _MAX_THIRD_TRIES):
        pairs, leftover, cand = _match_pairs(ctx, nodes, cand, k, solver, dummy_w, banned)
        if leftover is None:
            break  # no perfect matching even with the dummy: handled below
        seated = _seat_third(ctx, leftover, pairs)
        if seated is not None:
            if sum(len(g) for g in seated) == m:
                return seated, [], cand
            break  # someone is left out anyway: handled below
        banned.add(leftover)  # cannot join any pair: someone else must be the third
    # no perfect grouping: maximum-cardinality pairs, one leftover seated as a third if
    # possible, the rest unmatched (they get priority next round)
    pairs, _, cand = _match_pairs(ctx, nodes, cand, k, solver, None, banned)
    groups: list[tuple[int, ...]] = list(pairs)
    matched = {x for g in groups for x in g}
    rest_ids = [int(x) for x in nodes.tolist() if x not in matched]
    for c in list(rest_ids):  # at most one trio: seat one leftover as a third if possible
        fit_c = _third_fit(ctx, c, groups)
        if len(fit_c) and np.isfinite(fit_c).any():
            j = int(np.argmax(fit_c))
            groups[j] = (*groups[j], c)
            rest_ids.remove(c)
            break
    if rest_ids and m <= _EXACT_FALLBACK_MAX:
        # the sparse path left someone out: only the exact search knows whether anyone
        # could have been placed (rare: it takes dense blocks and avoids)
        exact_groups, exact_out = _exact_pairs(ctx, nodes)
        return exact_groups, exact_out, cand
    return groups, [(c, "no_compatible_group") for c in rest_ids], cand


def _trios_mode(
    ctx: _Context, nodes: IntArray, k: int, solver: Solver
) -> tuple[list[tuple[int, ...]], list[tuple[int, str]], _Candidates | None]:
    """Group size 3: trios, with pairs to fill (n % 3 == 1: two pairs; == 2: one pair)."""
    m = len(nodes)
    if m in (0, 1, 2, 4):
        return _pairs_mode(ctx, nodes, k, solver)
    n_pairs = {0: 0, 1: 2, 2: 1}[m % 3]
    n_trios = (m - 2 * n_pairs) // 3
    cand = _select(ctx, nodes, k)
    # pass 1: the students whose best partner is weakest become the thirds (a hard-to-pair
    # student is easier to seat between two others than to give a single good partner)
    first = np.where(np.isfinite(cand.weight[:, 0]), cand.weight[:, 0], -1e18)
    thirds = nodes[np.argsort(first, kind="stable")[:n_trios]]
    best: tuple[float, list[tuple[int, ...]], list[tuple[int, str]]] | None = None
    for _ in range(2):
        groups, unmatched, total = _assemble_trios(ctx, nodes, thirds, k, solver)
        if best is None or (len(unmatched), -total) < (len(best[2]), -best[0]):
            best = (total, groups, unmatched)
        # pass 2: in each trio, the member who adds least becomes the third
        new_thirds: list[int] = []
        for g in groups:
            if len(g) == 3:
                a = np.array(g, dtype=np.int64)
                _, e = _pair_values(ctx, a, np.roll(a, 1))  # (0,2), (1,0), (2,1)
                contrib = [e[0] + e[1], e[1] + e[2], e[2] + e[0]]
                new_thirds.append(g[int(np.argmin(contrib))])
        if len(new_thirds) != n_trios:
            break
        thirds = np.array(new_thirds, dtype=np.int64)
    assert best is not None
    if best[2]:  # someone left out: pairs are allowed sizes too, use them if they seat more
        p_groups, p_unmatched, p_cand = _pairs_mode(ctx, nodes, k, solver)
        if len(p_unmatched) < len(best[2]):
            return p_groups, p_unmatched, p_cand
    return best[1], best[2], cand


def _assemble_trios(
    ctx: _Context, nodes: IntArray, thirds: IntArray, k: int, solver: Solver
) -> tuple[list[tuple[int, ...]], list[tuple[int, str]], float]:
    third_set = set(thirds.tolist())
    rest = np.array([x for x in nodes.tolist() if x not in third_set], dtype=np.int64)
    pair_groups, unmatched, _ = _pairs_mode(ctx, rest, k, solver)
    pairs = [g for g in pair_groups if len(g) == 2]
    groups: list[tuple[int, ...]] = [g for g in pair_groups if len(g) == 3]
    t = len(thirds)
    fits = [_third_fit(ctx, c, pairs) for c in thirds.tolist()]
    kk = max(k, 1)
    while True:  # bipartite thirds x pairs on each third's top-kk pairs, widened if needed
        us: list[int] = []
        vs: list[int] = []
        ws: list[float] = []
        for ti, fit in enumerate(fits):
            ok = np.flatnonzero(np.isfinite(fit))
            if len(ok) > kk:
                ok = ok[np.argpartition(fit[ok], len(ok) - kk)[len(ok) - kk :]]
            us += [ti] * len(ok)
            vs += (t + ok).tolist()
            ws += fit[ok].tolist()
        chosen = _solve_rustworkx(
            t + len(pairs), np.array(us, np.int64), np.array(vs, np.int64), np.array(ws)
        )
        if len(chosen) == min(t, len(pairs)) or kk >= len(pairs):
            break
        kk *= 2
    used: set[int] = set()
    seated: set[int] = set()
    for a, b in chosen:
        ti, pj = (a, b - t) if a < t else (b, a - t)
        groups.append((*pairs[pj], int(thirds[ti])))
        used.add(pj)
        seated.add(int(thirds[ti]))
    groups += [pairs[j] for j in range(len(pairs)) if j not in used]
    loose = [int(c) for c in thirds.tolist() if c not in seated]
    while loose:  # unseated thirds pair up with each other when allowed
        c = loose.pop(0)
        mate = next((d for d in loose if _allowed(ctx, c, d)), None)
        if mate is None:
            unmatched.append((c, "no_compatible_group"))
        else:
            loose.remove(mate)
            groups.append((c, mate))
    total = 0.0
    for g in groups:
        ga = np.array(g, dtype=np.int64)
        gb = np.roll(ga, 1) if len(g) == 3 else ga[::-1][:1]
        _, e = _pair_values(ctx, ga[: len(gb)], gb)
        total += float(e.sum())
    return groups, unmatched, total


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def run_matching(request: MatchRequest) -> MatchResult:
    """Form this round's groups. Pure and deterministic for a given request (incl. seed)."""
    seen: set[int] = set()
    for p in request.students:
        if p.user_id in seen:
            raise ValueError(f"duplicate student {p.user_id}")
        seen.add(p.user_id)
    profiles = sorted(request.students, key=lambda p: p.user_id)  # input order is irrelevant
    n = len(profiles)
    if n == 0:
        return MatchResult((), (), 0.0, 0.0, 0)
    with _one_blas_thread() if n >= _BLAS_LIMIT_MIN else contextlib.nullcontext():
        return _form_groups(request, profiles)


_blas: list[object] = []  # threadpoolctl's controller, made once (8 ms: it lists libraries)


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread while a round is built.

    The matcher's products are thin (rank ~40) and gain nothing from a second BLAS thread
    (measured: same wall time at n = 5,000), but OpenBLAS's idle threads spin between calls
    (CPU 1.5 s for 1.0 s of wall time at n = 5,000: a core taken from the bot's event loop),
    and on a busy machine every product waits for its threads to be scheduled (n = 201:
    2.5x slower at load 5). No-op without threadpoolctl.
    """
    if not _blas:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - optional
            return contextlib.nullcontext()
        _blas.append(ThreadpoolController())
    limit: contextlib.AbstractContextManager[object] = _blas[0].limit(  # type: ignore[attr-defined]
        limits=1, user_api="blas"
    )
    return limit


def _form_groups(request: MatchRequest, profiles: Sequence[MatchProfile]) -> MatchResult:
    """:func:`run_matching` for a non-empty, de-duplicated, id-sorted list of profiles."""
    n = len(profiles)
    ctx = _build_context(request, profiles)
    unmatched: list[tuple[int, str]] = []
    if n == 1:
        unmatched.append((0, "no_other_students"))
        active = np.zeros(0, dtype=np.int64)
    else:
        unmatched += [(int(i), "no_allowed_partner") for i in np.flatnonzero(ctx.degree <= 0)]
        active = np.flatnonzero(ctx.degree > 0).astype(np.int64)
    k = max(1, request.k)
    if len(active) <= _FULL_GRAPH_MAX:  # small cohort: the complete graph, exactly optimal
        k = max(k, len(active))
    if request.group_size == 3:
        row_groups, more, cand = _trios_mode(ctx, active, k, request.solver)
    else:
        row_groups, more, cand = _pairs_mode(ctx, active, k, request.solver)
    unmatched += more

    best_base = np.zeros(n)
    if cand is not None:
        best_base[active] = cand.best_base
    # all member pairs of all groups at once
    ga: list[int] = []
    gb: list[int] = []
    owner: list[int] = []
    sorted_groups = [tuple(sorted(g)) for g in row_groups]
    for gi, g in enumerate(sorted_groups):
        for x in range(len(g)):
            for y in range(x + 1, len(g)):
                ga.append(g[x])
                gb.append(g[y])
                owner.append(gi)
    base, eff = _pair_values(ctx, np.array(ga, np.int64), np.array(gb, np.int64))
    if not np.isfinite(eff).all():  # cannot happen: every edge came from the allowed graph
        raise AssertionError("matcher grouped a forbidden pair")
    g_score = np.zeros(len(sorted_groups))
    np.add.at(g_score, np.array(owner, np.int64), base)
    got = np.zeros(n)
    np.add.at(got, np.array(ga, np.int64), base)
    np.add.at(got, np.array(gb, np.int64), base)
    g_rep = np.zeros(len(sorted_groups), dtype=np.int64)
    if len(ctx.pen_key) and ga:  # member pairs who met before (ga < gb: sorted groups)
        key = np.array(ga, np.int64) * n + np.array(gb, np.int64)
        pos = np.minimum(np.searchsorted(ctx.pen_key, key), len(ctx.pen_key) - 1)
        np.add.at(g_rep, np.array(owner, np.int64), ctx.pen_key[pos] == key)
    # the reasons: every pair at once, any larger group on its own
    two = [g for g in sorted_groups if len(g) == 2]
    pair_reasons = iter(
        _explain_pairs(
            ctx.model,
            np.array([g[0] for g in two], np.int64),
            np.array([g[1] for g in two], np.int64),
        )
    )
    quality: dict[int, float] = {}
    groups: list[Group] = []
    for gi, g in enumerate(sorted_groups):
        for r in g:
            ref = best_base[r]
            mean = got[r] / (len(g) - 1)
            quality[profiles[r].user_id] = float(mean / ref) if ref > 0 else 1.0
        groups.append(
            Group(
                tuple(profiles[r].user_id for r in g),
                float(g_score[gi]),
                next(pair_reasons) if len(g) == 2 else _explain_rows(ctx.model, profiles, g),
                int(g_rep[gi]),
            )
        )
    groups.sort(key=lambda g: g.members)
    return MatchResult(
        groups=tuple(groups),
        unmatched=tuple(sorted((profiles[r].user_id, why) for r, why in unmatched)),
        total_score=float(base.sum()),
        objective=float(eff.sum()),
        repeats=int(g_rep.sum()),
        quality=MappingProxyType(quality),
    )


def validate(result: MatchResult, request: MatchRequest) -> list[str]:
    """Rule violations of ``result`` for ``request`` (empty list = valid).

    Every eligible student appears exactly once (in a group, or in ``unmatched`` with a known
    reason); groups have 2 or 3 members (group size 2: at most one trio, and exactly one when
    an odd number is placed); no forbidden pair shares a group; no unknown ids.
    """
    problems: list[str] = []
    eligible = {p.user_id for p in request.students}
    count: dict[int, int] = {}
    trios = 0
    for g in result.groups:
        if len(g.members) not in (2, 3):
            problems.append(f"group {g.members} has size {len(g.members)}")
        trios += len(g.members) == 3
        for u in g.members:
            count[u] = count.get(u, 0) + 1
        for x in range(len(g.members)):
            for y in range(x + 1, len(g.members)):
                pair = frozenset({g.members[x], g.members[y]})
                if pair in request.forbidden_pairs:
                    problems.append(f"forbidden pair {sorted(pair)} grouped")
    for u, why in result.unmatched:
        count[u] = count.get(u, 0) + 1
        if why not in REASON_CODES:
            problems.append(f"unmatched {u} has unknown reason {why!r}")
    for u, c in sorted(count.items()):
        if u not in eligible:
            problems.append(f"unknown id {u}")
        elif c > 1:
            problems.append(f"student {u} placed {c} times")
    problems += [f"student {u} dropped" for u in sorted(eligible - count.keys())]
    placed = sum(len(g.members) for g in result.groups)
    if request.group_size == 2:
        if trios > 1:
            problems.append(f"{trios} trios with group size 2")
        if placed % 2 == 1 and trios != 1:
            problems.append("odd number placed without exactly one trio")
    return problems


def next_history(
    history: MatchHistory,
    request: MatchRequest,
    result: MatchResult,
    *,
    decay: float = SHORTFALL_DECAY,
) -> MatchHistory:
    """History for the next round: groups appended, trio counts, shortfall and priority.

    shortfall <- decay * shortfall + max(0, 1 - quality), quality = mean partner score
    relative to the student's own best-10 average this round. Unmatched students get priority
    next round; everyone else loses it.
    """
    groups = history.groups + tuple(
        PastGroup(request.round_index, frozenset(g.members)) for g in result.groups
    )
    trios = dict(history.trio_counts)
    for g in result.groups:
        if len(g.members) == 3:
            for u in g.members:
                trios[u] = trios.get(u, 0) + 1
    shortfall = {u: decay * v for u, v in history.shortfall.items()}
    for u, q in result.quality.items():
        shortfall[u] = shortfall.get(u, 0.0) + max(0.0, 1.0 - q)
    shortfall = {u: v for u, v in shortfall.items() if v > 1e-6}
    return MatchHistory(groups, trios, shortfall, frozenset(u for u, _ in result.unmatched))
