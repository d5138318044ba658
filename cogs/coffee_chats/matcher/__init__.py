"""Peer matching for weekly "coffee chat" rounds: pure logic, no Discord, no I/O.

The caller (a service running this in ``asyncio.to_thread``) passes only *eligible* students
(paused, away, departed students and staff are simply not in the request) and the forbidden
pairs (blocks and "avoid" choices). :func:`run_matching` returns groups of 2 (or 3) and, for
anyone who cannot be placed, an ``unmatched`` entry with a reason code.

How a round is built
====================

1. **Pair score** (:func:`pair_score`, vectorised in :class:`_Model`): agreement on the
   circumstances both students shared for matching, weighted by each student's
   similar / different / don't-mind choice (keys without a choice count as a mild "similar");
   time-zone closeness or distance when a student asked for it; weekly availability overlap in
   hours, computed in each student's own time zone for the actual week (DST included); and a
   tiny seeded jitter (std 0.008 points) that breaks ties differently each round. The score
   is a sum of non-negative parts, about 0-25.
2. **Effective weight** = score x (1 + shortfall_a + shortfall_b)  (fairness: a per-person
   additive bonus changes nothing when everyone is matched once, a multiplicative one does)
   - the repeat penalty  sum_over_past_meetings(REPEAT_PENALTY * 0.5 ** (age / half_life))
   + PRIORITY_BONUS for each member in ``history.priority`` (only matters when not everyone
   can be matched). The repeat penalty dwarfs any score, so a repeat happens only when no
   repeat-free grouping exists, and then the oldest pair first. It is never a hard cooldown.
3. **Hard rules are removed, never priced**: forbidden pairs are not edges; students with no
   allowed partner at all are returned unmatched (``no_allowed_partner``).
4. **Sparse candidate graph**: each student's best ``k`` allowed partners by *reduced*
   weight w_ij - u_j, where u approximates the LP duals (iterated on a sample of at most
   1,000 columns). Raw top-k lists all point at the same "popular" students and their union
   often has no perfect matching (measured: 0.96 of the optimum at n=1,000, k=30); reduced
   top-20 reaches the exact optimum there. Vectorised in float32 row blocks. Exact
   maximum-weight, maximum-cardinality matching on it; if it has no perfect matching, ``k``
   is doubled up to the full graph. Every returned pair is checked to be an allowed edge.
5. **Group size 2, up to ``_EXACT_MAX`` (250) students: exact** (:func:`_exact_pairs`). The
   objective is lexicographic: first as many students placed as any grouping of pairs and at
   most one trio can place (nobody who could be placed is left out), then the largest sum of
   effective weights over all member pairs minus the trio's cost, TRIO_PENALTY x (the most
   past trios of its members + TRIO_SUM_SHARE x their sum), counted above the fewest anyone
   present has. TRIO_PENALTY (1,000) is far above any realistic score difference (a pair is
   worth 0-25 points, x (1 + shortfalls) at most 175), so the trio goes to students with the
   fewest trios first, fit second; only a recent repeat (10,000, halving every half-life)
   outweighs it. An odd count is solved by branch and bound over the trio, bounded by the
   duals of the fractional matching LP (:func:`_best_grouping`); tested against brute force
   and an independent exact reference.
   **Larger odd counts** (the sparse path): a dummy node joined to everyone, whose edge
   weight is the student's fit estimate minus TRIO_PENALTY x (their past trios - the fewest);
   the student matched to it joins a pair as it is, or two pairs are re-paired so that two of
   their members form the trio. If that leaves anyone out, the exact search decides (up to
   ``_EXACT_FALLBACK_MAX`` students).
6. **Group size 3**: choose the "thirds", pair the others exactly, assign thirds to pairs by
   an exact bipartite matching; pairs fill when ``n % 3 != 0`` (n=4: two pairs, n=5: pair +
   trio). Two passes, the better kept.

**Small cohorts are exact**: group size 2 with at most ``_EXACT_MAX`` active students, see
step 5 (benchmark: milliseconds at 21, ~0.1 s at 201). Above that the sparse graph of step 4
is a heuristic (e.g. n = 42, k = 10: 230.55 against 230.92); tested separately against an
honest bound (within 0.5 % on small random instances; the benchmark measures it against an
exact optimum at 1,000 and a certified upper bound at 5,000).

Solver: ``rustworkx.max_weight_matching`` (exact on integer weights, max_cardinality=True).
With ``solver="auto"`` (default) and at least ``_LP_MIN_NODES`` (500) nodes, the pairing
uses :func:`_solve_dual_pymatching`: PyMatching's sparse blossom (min-cost perfect matching)
on the *reduced* integer costs p_i + p_j - w_ij, where p are the duals candidate selection
already estimated (step 4). For a perfect matching this objective differs from the weight
by a constant, so it is exact on the candidate graph; with good potentials the costs are
small and flat, which sparse blossom is fast on (0.4 s at n = 5,000, against 14 s for
rustworkx and 4.6 s for PyMatching on raw weights). If PyMatching is missing, the costs do
not fit its integer range, or the answer is not made of direct edges, :func:`_solve_lp`
(scipy assignment relaxation + exact rustworkx re-solve of the fractional region, 99.99 %)
and then the exact rustworkx solve take over. ``solver="rustworkx"`` always solves with
rustworkx. ``solver="pymatching"`` uses PyMatching on raw weights (cost = DELTA + w_max - w,
exact while the weight span fits its range; any answer not made of direct allowed edges
falls back to rustworkx).

The code, by step: :mod:`.model` (data, fixed choices, the pair score, explanations, effective
weights), :mod:`.candidates` (step 4 and the solvers), :mod:`.exact` (seating a third, the
exact search of step 5) and :mod:`.solve` (:func:`run_matching`, :func:`validate`,
:func:`next_history`). Importing the package imports all of them (numpy included).
"""

from __future__ import annotations

from cogs.coffee_chats.matcher.candidates import _select as _select
from cogs.coffee_chats.matcher.candidates import _solve_dual_pymatching as _solve_dual_pymatching
from cogs.coffee_chats.matcher.candidates import _solve_lp as _solve_lp
from cogs.coffee_chats.matcher.candidates import _solve_rustworkx as _solve_rustworkx
from cogs.coffee_chats.matcher.candidates import _top_k as _top_k
from cogs.coffee_chats.matcher.model import (
    AVAILABILITY_WINDOWS,
    CIRCUMSTANCE_CHOICES,
    PREFERENCE_KEYS,
    REASON_CODES,
    Group,
    MatchHistory,
    MatchProfile,
    MatchRequest,
    MatchResult,
    PastGroup,
    Preference,
    common_slots,
    explain,
    pair_score,
    score_matrix,
)
from cogs.coffee_chats.matcher.model import (
    JITTER_RANK as JITTER_RANK,
)
from cogs.coffee_chats.matcher.model import (
    JITTER_SCALE as JITTER_SCALE,
)
from cogs.coffee_chats.matcher.model import (
    TRIO_PENALTY as TRIO_PENALTY,
)
from cogs.coffee_chats.matcher.model import (
    TRIO_SUM_SHARE as TRIO_SUM_SHARE,
)
from cogs.coffee_chats.matcher.model import _build_context as _build_context
from cogs.coffee_chats.matcher.solve import next_history, run_matching, validate

__all__ = [
    "AVAILABILITY_WINDOWS",
    "CIRCUMSTANCE_CHOICES",
    "PREFERENCE_KEYS",
    "REASON_CODES",
    "Group",
    "MatchHistory",
    "MatchProfile",
    "MatchRequest",
    "MatchResult",
    "PastGroup",
    "Preference",
    "common_slots",
    "explain",
    "next_history",
    "pair_score",
    "run_matching",
    "score_matrix",
    "validate",
]
