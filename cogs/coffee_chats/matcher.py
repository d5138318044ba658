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
"""

from __future__ import annotations

import contextlib
import heapq
import importlib.machinery
import importlib.util
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from types import MappingProxyType, ModuleType
from typing import Final, Literal, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

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

Preference = Literal["similar", "different", "any"]
Solver = Literal["auto", "rustworkx", "pymatching"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_F = TypeVar("_F", np.float32, np.float64)
_A32 = npt.NDArray[np.float32]

# --------------------------------------------------------------------------------------
# Fixed choices
# --------------------------------------------------------------------------------------

#: Availability windows in the student's LOCAL time: (weekdays Mon=0..Sun=6, start h, end h).
AVAILABILITY_WINDOWS: Final[Mapping[str, tuple[frozenset[int], int, int]]] = MappingProxyType(
    {
        "weekday_mornings": (frozenset(range(5)), 7, 12),
        "weekday_afternoons": (frozenset(range(5)), 12, 17),
        "weekday_evenings": (frozenset(range(5)), 17, 22),
        "weekends": (frozenset({5, 6}), 9, 21),
    }
)

#: Circumstances a student may share for matching. "prefer not to say" = key absent.
CIRCUMSTANCE_CHOICES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "work": ("full_time", "part_time", "not_working", "student"),
        "caregiving": ("none", "young_children", "school_children", "adult_care"),
        "first_gen": ("yes", "no"),
        "prior_courses": ("none", "some", "many"),
        "goal": ("career_change", "upskill", "degree", "personal"),
    }
)

#: Keys a student may set similar / different / any for. Other circumstance keys count as
#: a mild "similar" (the point of the feature is finding classmates whose lives look alike).
PREFERENCE_KEYS: Final[frozenset[str]] = frozenset({"timezone", "work", "caregiving"})

#: Points for full agreement on one key (per pair, when both students want it).
KEY_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {"work": 3.0, "caregiving": 3.0, "first_gen": 1.5, "prior_courses": 1.0, "goal": 1.0}
)
TIMEZONE_WEIGHT: Final = 3.0
TIMEZONE_SCALE_HOURS: Final = 8.0  # closeness 1 - d/8 (clipped); distance d/8 (clipped)
OVERLAP_WEIGHT: Final = 6.0
OVERLAP_CAP_HOURS: Final = 12.0  # overlap beyond 12 h/week earns nothing more
UNKNOWN_OVERLAP_FRACTION: Final = 0.5  # no availability given: neutral half credit
#: Seeded jitter x_i . x_j: coordinates of std JITTER_SCALE / sqrt(JITTER_RANK), so a pair's
#: jitter has std JITTER_SCALE^2 / sqrt(JITTER_RANK) = 0.008 points: a tie-breaker that
#: differs per round (scores differ by whole points), not a source of variety by itself.
JITTER_SCALE: Final = 0.15
JITTER_RANK: Final = 8

REPEAT_PENALTY: Final = 10_000.0  # points; halves every half-life of rounds
TRIO_PENALTY: Final = 1000.0  # points per past trio (above the round's fewest), see step 5
TRIO_SUM_SHARE: Final = 0.1  # seating a third: max trio count first, then this x the sum
PRIORITY_BONUS: Final = 500.0  # points per priority member of a pair
SHORTFALL_GAIN: Final = 1.0
SHORTFALL_CAP: Final = 3.0
SHORTFALL_DECAY: Final = 0.75
BEST_OF: Final = 10  # a student's own "best partners" reference: mean of their top 10

#: Reason codes in ``unmatched`` (machine-readable; the bot words them).
REASON_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "no_other_students": "the only eligible student this round",
        "no_allowed_partner": "every possible partner is blocked or avoided",
        "no_compatible_group": (
            "allowed partners exist, but blocks and avoids leave no grouping of pairs and one"
            " trio that places everyone: each of their partners is needed by someone else"
        ),
        "no_allowed_trio": (
            "an odd number to place and no trio without a blocked or avoided pair leaves the"
            " others in pairs"
        ),
    }
)

_SCALE: Final = 1000  # points -> integer weight units for rustworkx
_PM_MAX: Final = (1 << 24) - 1  # PyMatching's largest edge weight
_BLOCK_CELLS: Final = 2_000_000  # row-block size for candidate selection (cells)
_DUAL_SAMPLE: Final = 1000  # columns sampled to estimate the duals
_DUAL_ITERATIONS: Final = 3
_THRESHOLD_FACTOR: Final = 3  # top-k prefilter: a row's (3 k s/m)-th best sampled value
_MAX_THIRD_TRIES: Final = 4
_SWAP_CANDIDATES: Final = 24
_FULL_GRAPH_MAX: Final = 200  # up to this many students: complete candidate graph
_EXACT_MAX: Final = 250  # up to this many students, group size 2 is solved by _exact_pairs
_EXACT_FALLBACK_MAX: Final = 2000  # larger: _exact_pairs only when the sparse path leaves
# someone out, up to this many (its dense duals are O(n^2) memory)
_LP_MIN_NODES: Final = 500  # "auto" solver: dual-guided PyMatching from this many nodes
_LP_RADIUS: Final = 20  # integer weight units (0.02 points) of reduced cost, see _solve_lp
_LP_RETRIES: Final = 3  # radius x4 per retry, then the full exact solve
_BF_MAX_ITERATIONS: Final = 1000
_WORKERS: Final = 2  # threads for the candidate passes (see _in_threads)
_PARALLEL_MIN_ROWS: Final = 2000  # below, threads cost more than they save


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchProfile:
    """What one eligible student shared for matching (nothing else reaches the matcher)."""

    user_id: int
    timezone: str | None = None  # IANA name; None = unknown (request.default_timezone used)
    availability: frozenset[str] = frozenset()  # keys of AVAILABILITY_WINDOWS; empty = unknown
    circumstances: Mapping[str, str] = field(default_factory=dict)
    preferences: Mapping[str, Preference] = field(default_factory=dict)


@dataclass(frozen=True)
class PastGroup:
    round_index: int
    members: frozenset[int]


@dataclass(frozen=True)
class MatchHistory:
    """What earlier rounds left behind (see :func:`next_history`)."""

    groups: tuple[PastGroup, ...] = ()
    trio_counts: Mapping[int, int] = field(default_factory=dict)  # trios each user was in
    shortfall: Mapping[int, float] = field(default_factory=dict)  # accumulated "bad partner"
    priority: frozenset[int] = frozenset()  # unmatched last time: placed first this time


@dataclass(frozen=True)
class MatchRequest:
    students: tuple[MatchProfile, ...]
    forbidden_pairs: frozenset[frozenset[int]]
    history: MatchHistory
    round_index: int
    week_start_utc: datetime  # start of the course week (aware); availability is for this week
    group_size: Literal[2, 3] = 2
    seed: int = 0
    half_life_rounds: float = 6.0
    k: int = 20
    default_timezone: str = "UTC"  # for students whose zone is unknown (the course zone)
    solver: Solver = "auto"


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]
    score: float  # sum of the base pair scores inside the group
    reasons: tuple[str, ...]  # e.g. "same_work:full_time", "overlap_hours:6", "same_timezone"
    repeats: int = 0  # member pairs who met before


@dataclass(frozen=True)
class MatchResult:
    groups: tuple[Group, ...]
    unmatched: tuple[tuple[int, str], ...]  # (user_id, reason code from REASON_CODES)
    total_score: float  # sum of Group.score
    objective: float  # sum of effective pair weights (what the solver maximised)
    repeats: int
    quality: Mapping[int, float] = field(default_factory=dict)  # mean partner score / own best


# --------------------------------------------------------------------------------------
# Availability in UTC
# --------------------------------------------------------------------------------------


def _zone(name: str | None, default: str, cache: dict[str, ZoneInfo]) -> ZoneInfo:
    key = name or default
    zone = cache.get(key)
    if zone is None:
        try:
            zone = ZoneInfo(key)
        except (KeyError, ValueError):
            zone = ZoneInfo(default)
        cache[key] = zone
    return zone


def _local_week(zone: ZoneInfo, start: datetime) -> tuple[IntArray, IntArray]:
    """(weekday, hour) in ``zone`` of each of the 168 hours after ``start`` (UTC, whole hour).

    The zone's offset is looked up at both ends of the week (and the change, if any, found by
    bisection) instead of converting all 168 hours: a time zone changes its offset at most
    once in a week.
    """

    def offset_minutes(h: int) -> int:
        off = (start + timedelta(hours=h)).astimezone(zone).utcoffset()
        return 0 if off is None else int(off.total_seconds() // 60)

    first, last = offset_minutes(0), offset_minutes(167)
    offs = np.full(168, first, dtype=np.int64)
    if first != last:
        lo, hi = 0, 167  # offset(lo) == first, offset(hi) != first
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if offset_minutes(mid) == first:
                lo = mid
            else:
                hi = mid
        offs[hi:] = last
    utc = start.astimezone(UTC)
    week_minutes = 7 * 24 * 60
    minutes = utc.weekday() * 1440 + utc.hour * 60 + utc.minute + 60 * np.arange(168) + offs
    minutes %= week_minutes
    return minutes // 1440, (minutes % 1440) // 60


def _mask_from_local(
    local: tuple[IntArray, IntArray], availability: frozenset[str]
) -> npt.NDArray[np.bool_]:
    wd, hr = local
    mask = np.zeros(168, dtype=bool)
    for a in availability:
        if a in AVAILABILITY_WINDOWS:
            days, lo, hi = AVAILABILITY_WINDOWS[a]
            day_ok = np.zeros(7, dtype=bool)
            day_ok[list(days)] = True  # a lookup: np.isin costs 10x more, per profile type
            mask |= day_ok[wd] & (hr >= lo) & (hr < hi)
    return mask


def _hour_mask(
    zone: ZoneInfo, availability: frozenset[str], week_start_utc: datetime
) -> npt.NDArray[np.bool_]:
    """168 booleans: hour h after ``week_start_utc`` is inside one of the local windows."""
    start = week_start_utc.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return _mask_from_local(_local_week(zone, start), availability)


def _offset_hours(zone: ZoneInfo, week_start_utc: datetime) -> float:
    offset = week_start_utc.astimezone(zone).utcoffset()
    return 0.0 if offset is None else offset.total_seconds() / 3600.0


def _tz_distance(a: FloatArray, b: FloatArray) -> FloatArray:
    d = np.abs(a - b) % 24.0
    return np.minimum(d, 24.0 - d)


def common_slots(
    a: MatchProfile,
    b: MatchProfile,
    week_start_utc: datetime,
    *,
    others: Sequence[MatchProfile] = (),
    default_timezone: str = "UTC",
    limit: int = 3,
) -> list[datetime]:
    """A few UTC instants in the week when everyone is available in their own time zone.

    One instant per contiguous shared window (its first hour), spread over different days
    first, at most ``limit``, in time order. Empty when nothing overlaps or someone gave no
    availability.
    """
    cache: dict[str, ZoneInfo] = {}
    start = week_start_utc.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    mask = np.ones(168, dtype=bool)
    for p in (a, b, *others):
        mask &= _hour_mask(_zone(p.timezone, default_timezone, cache), p.availability, start)
    starts = [h for h in range(168) if mask[h] and (h == 0 or not mask[h - 1])]
    chosen: list[int] = []
    days: set[int] = set()
    for h in starts:  # one per day first
        if len(chosen) < limit and h // 24 not in days:
            chosen.append(h)
            days.add(h // 24)
    for h in starts:
        if len(chosen) < limit and h not in chosen:
            chosen.append(h)
    return [start + timedelta(hours=h) for h in sorted(chosen)]


# --------------------------------------------------------------------------------------
# Vectorised scoring model
# --------------------------------------------------------------------------------------


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _pref_weights(pref: str | None, has_choice: bool) -> tuple[float, float]:
    """(similar weight, different weight) for one student and one key."""
    if not has_choice:
        return 1.0, 0.0
    if pref == "similar":
        return 1.0, 0.0
    if pref == "different":
        return 0.0, 1.0
    return 0.0, 0.0


class _Model:
    """Pair scores for a list of profiles as ``L @ R.T + T[type_i, type_j]`` (symmetric).

    Categorical agreement and the jitter are a low-rank bilinear form (one BLAS call per
    row block); time zone and availability depend only on a student's (zone offset,
    availability, time-zone preference) "type", of which there are few, so they are a
    small table gathered per block.
    """

    def __init__(
        self,
        profiles: Sequence[MatchProfile],
        week_start_utc: datetime,
        default_timezone: str,
        seed: int | None,
    ) -> None:
        n = len(profiles)
        self.n = n
        self.ids = np.array([p.user_id for p in profiles], dtype=np.int64)
        left: list[FloatArray] = []
        right: list[FloatArray] = []
        for key, weight in KEY_WEIGHTS.items():
            values = sorted({p.circumstances[key] for p in profiles if key in p.circumstances})
            if not values:
                continue
            col = {v: i for i, v in enumerate(values)}
            onehot = np.zeros((n, len(values)))
            present = np.zeros(n)
            sim = np.zeros(n)
            dif = np.zeros(n)
            has_choice = key in PREFERENCE_KEYS
            for i, p in enumerate(profiles):
                v = p.circumstances.get(key)
                if v is not None:
                    onehot[i, col[v]] = 1.0
                    present[i] = 1.0
                sim[i], dif[i] = _pref_weights(p.preferences.get(key), has_choice)
            # 0.5*w*[(sim_i+sim_j)*same + (dif_i+dif_j)*(both - same)]
            #   = 0.5*w*[(e_i + e_j)*same + (dif_i + dif_j)*both],  e = sim - dif
            if not has_choice:  # sim = 1, dif = 0: just w * same (fewer columns, same sum)
                left.append(weight * onehot)
                right.append(onehot)
                continue
            e = sim - dif
            h = 0.5 * weight
            left += [h * e[:, None] * onehot, h * onehot, h * (dif * present)[:, None]]
            right += [onehot, e[:, None] * onehot, present[:, None]]
            left.append(h * present[:, None])
            right.append((dif * present)[:, None])
        if seed is not None:
            # symmetric low-rank jitter x_i . x_j, x_i uniform with unit variance per
            # coordinate, hashed from (seed, user id, coordinate): no RNG state, any order
            s = _splitmix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
            base_ids = _splitmix(self.ids.astype(np.uint64) ^ s)
            x = np.empty((n, JITTER_RANK))
            for r in range(JITTER_RANK):
                hv = _splitmix(base_ids + np.uint64(r + 1))
                x[:, r] = ((hv >> np.uint64(11)).astype(np.float64) / 2.0**53 - 0.5) * math.sqrt(12)
            # each coordinate has std JITTER_SCALE / sqrt(rank); x_i . x_j sums rank products,
            # so a pair's jitter has std JITTER_SCALE^2 / sqrt(rank) (0.008 points)
            x *= JITTER_SCALE / math.sqrt(JITTER_RANK)
            left.append(x)
            right.append(x)
        # jitter is mean-zero: shift every pair by +2*JITTER_SCALE so scores stay >= 0-ish
        left.append(np.ones((n, 1)))
        right.append(np.full((n, 1), 2 * JITTER_SCALE if seed is not None else 0.0))
        lft, rgt = np.hstack(left), np.hstack(right)
        used = lft.any(axis=0) & rgt.any(axis=0)  # e.g. nobody asked for "different"
        self.left = np.ascontiguousarray(lft[:, used])
        self.right = np.ascontiguousarray(rgt[:, used])

        cache: dict[str, ZoneInfo] = {}
        type_of: dict[tuple[float, frozenset[str], float, float, bool], int] = {}
        masks: list[npt.NDArray[np.bool_]] = []
        offs: list[float] = []
        tsim: list[float] = []
        tdif: list[float] = []
        known: list[bool] = []
        mask_of: dict[tuple[str, frozenset[str]], npt.NDArray[np.bool_]] = {}
        local_of: dict[str, tuple[IntArray, IntArray]] = {}  # per zone: 168 conversions once
        off_of: dict[str, float] = {}
        start = week_start_utc.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        self.type = np.empty(n, dtype=np.int64)
        self.offset = np.empty(n)
        for i, p in enumerate(profiles):
            zone = _zone(p.timezone, default_timezone, cache)
            off = off_of.get(zone.key)
            if off is None:
                off = off_of[zone.key] = _offset_hours(zone, week_start_utc)
            s, d = _pref_weights(p.preferences.get("timezone"), True)
            avail = frozenset(a for a in p.availability if a in AVAILABILITY_WINDOWS)
            tz_known = p.timezone is not None
            key5 = (off, avail, s, d, tz_known)
            t = type_of.get(key5)
            if t is None:
                mkey = (zone.key, avail)
                m = mask_of.get(mkey)
                if m is None:
                    local = local_of.get(zone.key)
                    if local is None:
                        local = local_of[zone.key] = _local_week(zone, start)
                    m = mask_of[mkey] = _mask_from_local(local, avail)
                t = type_of[key5] = len(masks)
                masks.append(m)
                offs.append(off)
                tsim.append(s if tz_known else 0.0)
                tdif.append(d if tz_known else 0.0)
                known.append(tz_known)
            self.type[i] = t
            self.offset[i] = off
        mk = np.array(masks, dtype=np.float64).reshape(len(masks), 168)
        self.type_masks = mk
        self.type_masks_hours = mk.sum(axis=1)  # a type's available hours (0 = unknown)
        hours = mk @ mk.T
        has_avail = mk.sum(axis=1) > 0
        ov = OVERLAP_WEIGHT * np.minimum(hours, OVERLAP_CAP_HOURS) / OVERLAP_CAP_HOURS
        unknown = ~(has_avail[:, None] & has_avail[None, :])
        ov[unknown] = OVERLAP_WEIGHT * UNKNOWN_OVERLAP_FRACTION
        o = np.array(offs)
        dist = _tz_distance(o[:, None], o[None, :])
        close = np.clip(1.0 - dist / TIMEZONE_SCALE_HOURS, 0.0, 1.0)
        far = np.clip(dist / TIMEZONE_SCALE_HOURS, 0.0, 1.0)
        sv, dv = np.array(tsim), np.array(tdif)
        kn = np.array(known, dtype=np.float64)
        both = kn[:, None] * kn[None, :]
        tz = (
            0.5
            * TIMEZONE_WEIGHT
            * both
            * ((sv[:, None] + sv[None, :]) * close + (dv[:, None] + dv[None, :]) * far)
        )
        self.overlap_hours = hours
        self.table = ov + tz
        self._f32: tuple[_A32, _A32, _A32] | None = None

    def block(self, rows: IntArray, cols: IntArray | None = None) -> FloatArray:
        """Base scores for ``rows`` x ``cols`` (all columns when None), float64."""
        return self._block(self.left, self.right, self.table, rows, cols)

    def block32(self, rows: IntArray, cols: IntArray | None = None) -> npt.NDArray[np.float32]:
        """Like :meth:`block` in float32 (candidate selection only)."""
        if self._f32 is None:
            self._f32 = (
                self.left.astype(np.float32),
                self.right.astype(np.float32),
                self.table.astype(np.float32),
            )
        return self._block(*self._f32, rows, cols)

    def _block(self, left: npt.NDArray, right: npt.NDArray, table: npt.NDArray, rows: IntArray,
               cols: IntArray | None) -> npt.NDArray:  # fmt: skip
        # np.take along the columns: 3x faster than fancy indexing [:, idx] on a wide block
        if cols is None:
            out = left[rows] @ right.T
            out += np.take(table[self.type[rows]], self.type, axis=1)
            return out
        out = left[rows] @ right[cols].T
        out += np.take(table[self.type[rows]], self.type[cols], axis=1)
        return out

    def pair(self, i: int, j: int) -> float:
        r = np.array([i], dtype=np.int64)
        return float(self.block(r, np.array([j], dtype=np.int64))[0, 0])


def pair_score(
    a: MatchProfile,
    b: MatchProfile,
    week_start_utc: datetime,
    *,
    seed: int | None = None,
    default_timezone: str = "UTC",
) -> float:
    """Base score of one pair (no history, no fairness). Jitter only when ``seed`` is given."""
    return _Model([a, b], week_start_utc, default_timezone, seed).pair(0, 1)


def explain(
    members: Sequence[MatchProfile],
    week_start_utc: datetime,
    *,
    default_timezone: str = "UTC",
) -> tuple[str, ...]:
    """Machine-readable reasons that hold for *every* member of the group.

    Codes: ``same_<key>:<value>`` (``both_caregiving:<value>`` for caregiving other than
    none, ``both_first_gen`` for first-generation students), ``different_<key>`` when a member
    asked for different and all differ, ``same_timezone`` / ``near_timezone`` (≤ 2 h) /
    ``different_timezone`` (asked for, ≥ 6 h), ``overlap_hours:<h>`` (shared weekly hours).
    The bot words them using only what each member chose to show.
    """
    model = _Model(members, week_start_utc, default_timezone, None)
    return _explain_rows(model, members, list(range(len(members))))


def _explain_rows(
    model: _Model, profiles: Sequence[MatchProfile], rows: Sequence[int]
) -> tuple[str, ...]:
    members = [profiles[r] for r in rows]
    reasons: list[str] = []
    for key in KEY_WEIGHTS:
        values = [m.circumstances.get(key) for m in members]
        if any(v is None for v in values):
            continue
        if len(set(values)) == 1:
            v = values[0]
            if key == "caregiving":
                if v != "none":
                    reasons.append(f"both_caregiving:{v}")
            elif key == "first_gen":
                if v == "yes":
                    reasons.append("both_first_gen")
            else:
                reasons.append(f"same_{key}:{v}")
        elif len(set(values)) == len(values) and any(
            m.preferences.get(key) == "different" for m in members
        ):
            reasons.append(f"different_{key}")
    if all(m.timezone is not None for m in members):
        # plain floats: this runs once per group (thousands), numpy's per-call cost dominates
        offs = [float(model.offset[r]) for r in rows]
        spread = max(min(abs(a - b) % 24.0, 24.0 - abs(a - b) % 24.0) for a in offs for b in offs)
        if spread == 0:
            reasons.append("same_timezone")
        elif spread <= 2:
            reasons.append("near_timezone")
        elif spread >= 6 and any(m.preferences.get("timezone") == "different" for m in members):
            reasons.append("different_timezone")
    types = [int(model.type[r]) for r in rows]
    if min(model.type_masks_hours[t] for t in types) > 0:
        if len(types) == 2:  # the types' overlap table holds it already
            hours = int(model.overlap_hours[types[0], types[1]])
        else:
            hours = int(np.prod(model.type_masks[types], axis=0).sum())
        if hours:
            reasons.append(f"overlap_hours:{hours}")
    return tuple(reasons)


# --------------------------------------------------------------------------------------
# Effective weights (history, fairness, priority)
# --------------------------------------------------------------------------------------


@dataclass
class _Context:
    model: _Model
    forb_a: IntArray  # forbidden pairs, both directions (model rows)
    forb_b: IntArray
    pen_a: IntArray  # repeat penalties, both directions, one entry per pair and direction
    pen_b: IntArray
    pen_v: FloatArray
    penalty: dict[tuple[int, int], float]  # (i<j) -> repeat penalty (points)
    degree: IntArray  # allowed partners per row
    pen_key: IntArray  # sorted i*n+j (i<j) of penalised pairs
    pen_val: FloatArray
    forb_key: IntArray  # sorted i*n+j (i<j) of forbidden pairs
    factor: FloatArray  # per-row shortfall term
    bonus: FloatArray  # per-row priority bonus
    trios: FloatArray  # per-row past trios


def _forbidden_rows(ids: IntArray, pairs: frozenset[frozenset[int]]) -> tuple[IntArray, IntArray]:
    """Forbidden pairs as model rows (a < b), de-duplicated; unknown ids are ignored."""
    if set(map(len, pairs)) <= {2}:
        members = list(chain.from_iterable(pairs))
    else:  # malformed entries (not two ids) are ignored
        members = list(chain.from_iterable(p for p in pairs if len(p) == 2))
    if not members or not len(ids):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    flat = np.array(members, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.minimum(np.searchsorted(ids[order], flat), len(ids) - 1)
    rows = order[pos]
    ok = (ids[rows] == flat).reshape(-1, 2).all(axis=1)
    rows = rows.reshape(-1, 2)[ok]
    a, b = np.minimum(rows[:, 0], rows[:, 1]), np.maximum(rows[:, 0], rows[:, 1])
    key = np.sort(a * len(ids) + b)  # distinct: the pairs are distinct sets of distinct ids
    return key // len(ids), key % len(ids)


def _build_context(request: MatchRequest, profiles: Sequence[MatchProfile]) -> _Context:
    model = _Model(profiles, request.week_start_utc, request.default_timezone, request.seed)
    index = {p.user_id: i for i, p in enumerate(profiles)}
    n = len(profiles)
    fa, fb = _forbidden_rows(model.ids, request.forbidden_pairs)
    degree = n - 1 - np.bincount(fa, minlength=n) - np.bincount(fb, minlength=n)
    penalty: dict[tuple[int, int], float] = {}
    half = max(request.half_life_rounds, 1e-9)
    per_round: dict[int, float] = {}  # the penalty of a meeting in that round
    for g in request.history.groups:
        if g.round_index >= request.round_index:
            continue
        rows = sorted(index[u] for u in g.members if u in index)
        p = per_round.get(g.round_index)
        if p is None:
            age = request.round_index - g.round_index
            p = per_round[g.round_index] = REPEAT_PENALTY * 0.5 ** (age / half)
        for x in range(len(rows)):
            for y in range(x + 1, len(rows)):
                key = (rows[x], rows[y])
                penalty[key] = penalty.get(key, 0.0) + p
    pen_sorted = sorted(penalty.items())
    pa = np.array([p[0][0] for p in pen_sorted], dtype=np.int64)
    pb = np.array([p[0][1] for p in pen_sorted], dtype=np.int64)
    pv = np.array([p[1] for p in pen_sorted], dtype=np.float64)
    sf = request.history.shortfall
    factor = np.array(
        [SHORTFALL_GAIN * min(max(sf.get(p.user_id, 0.0), 0.0), SHORTFALL_CAP) for p in profiles],
        dtype=np.float64,
    )
    prio = request.history.priority
    bonus = np.array([PRIORITY_BONUS if p.user_id in prio else 0.0 for p in profiles])
    tc = request.history.trio_counts
    trios = np.array([float(tc.get(p.user_id, 0)) for p in profiles])
    return _Context(
        model,
        np.concatenate([fa, fb]),
        np.concatenate([fb, fa]),
        np.concatenate([pa, pb]),
        np.concatenate([pb, pa]),
        np.concatenate([pv, pv]),
        penalty,
        degree,
        pa * n + pb,
        pv,
        np.sort(fa * n + fb),
        factor.reshape(n),
        bonus.reshape(n),
        trios.reshape(n),
    )


def _positions(n: int, idx: IntArray) -> IntArray:
    pos = np.full(n, -1, dtype=np.int64)
    pos[idx] = np.arange(len(idx), dtype=np.int64)
    return pos


def _effective(
    ctx: _Context, base: npt.NDArray[_F], rows: IntArray, cols: IntArray, *, history: bool = True
) -> npt.NDArray[_F]:
    """Effective weights for a rows x cols block of base scores, in place.

    Self pairs and forbidden pairs become -inf. With ``history=False`` only that masking is
    applied (base scores of allowed pairs).
    """
    w = base
    n = ctx.model.n
    if history:
        if ctx.factor.any():
            f = ctx.factor.astype(w.dtype)
            w *= f[rows][:, None] + f[cols][None, :] + w.dtype.type(1.0)
        if ctx.bonus.any():
            bo = ctx.bonus.astype(w.dtype)
            w += bo[rows][:, None] + bo[cols][None, :]
    rpos = _positions(n, rows)
    cpos = _positions(n, cols)
    both = np.flatnonzero((rpos >= 0) & (cpos >= 0))
    w[rpos[both], cpos[both]] = -np.inf
    if len(ctx.forb_a):
        i, j = rpos[ctx.forb_a], cpos[ctx.forb_b]
        ok = (i >= 0) & (j >= 0)
        w[i[ok], j[ok]] = -np.inf
    if history and len(ctx.pen_a):
        i, j = rpos[ctx.pen_a], cpos[ctx.pen_b]
        ok = (i >= 0) & (j >= 0)
        w[i[ok], j[ok]] -= ctx.pen_v[ok]
    return w


def _pair_values(
    ctx: _Context,
    a: IntArray,
    b: IntArray,
    *,
    low_rank: FloatArray | None = None,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(base, effective) weights of the pairs (a[i], b[i]); self/forbidden pairs are -inf.

    A caller that has them passes the low-rank part of the base scores (``left[a] .
    right[b]``) and which pairs are allowed (not self, not forbidden).
    """
    m = ctx.model
    if low_rank is None:
        low_rank = np.einsum("ij,ij->i", m.left[a], m.right[b])
    base = low_rank + m.table[m.type[a], m.type[b]]
    eff = base * (1.0 + ctx.factor[a] + ctx.factor[b]) + ctx.bonus[a] + ctx.bonus[b]
    key = np.minimum(a, b) * m.n + np.maximum(a, b)
    if len(ctx.pen_key):
        pos = np.minimum(np.searchsorted(ctx.pen_key, key), len(ctx.pen_key) - 1)
        hit = ctx.pen_key[pos] == key
        eff[hit] -= ctx.pen_val[pos[hit]]
    if allowed is not None:
        bad = ~allowed
    else:
        bad = a == b
        if len(ctx.forb_key):
            pos = np.minimum(np.searchsorted(ctx.forb_key, key), len(ctx.forb_key) - 1)
            bad |= ctx.forb_key[pos] == key
    eff[bad] = -np.inf
    return base, eff


def score_matrix(request: MatchRequest, *, effective: bool = True) -> FloatArray:
    """Dense score matrix over ``request.students`` (in the given order); forbidden = -inf.

    For tests and benchmarks (O(n^2) memory). ``effective`` applies history, fairness and
    priority exactly as :func:`run_matching` does; otherwise base scores (with jitter).
    """
    profiles = list(request.students)
    ctx = _build_context(request, profiles)
    rows = np.arange(len(profiles), dtype=np.int64)
    return _effective(ctx, ctx.model.block(rows), rows, rows, history=effective)


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
    flat = np.flatnonzero(mask & good[:, None])  # 1-D: several times faster than 2-D nonzero
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
_BLAS_LIMIT_MIN: Final = 64  # students; smaller rounds' products are single-threaded anyway
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
    for i, (a, b) in enumerate(zip(ga, gb, strict=True)):
        if (a, b) in ctx.penalty:
            g_rep[owner[i]] += 1
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
                _explain_rows(ctx.model, profiles, g),
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
