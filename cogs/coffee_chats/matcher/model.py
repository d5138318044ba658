"""The coffee-chat matcher's data and scores: profiles, requests and results, fixed choices,
availability in UTC, the pair score (:class:`_Model`), explanations and effective weights.

Pure: no Discord, no I/O. How a round is built: see the package docstring
(cogs/coffee_chats/matcher/__init__.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from types import MappingProxyType
from typing import Final, Literal, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

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
        """Build the factors ``L``, ``R`` (circumstances, jitter) and the per-type table ``T``
        (time zone, availability).

        Long because it is one straight pass over the profiles whose parts share ``n``, the
        ids and the type index; each part is a short numpy recipe, commented where it starts.
        """
        n = len(profiles)
        self.n = n
        self.ids = np.array([p.user_id for p in profiles], dtype=np.int64)
        left: list[FloatArray] = []
        right: list[FloatArray] = []
        # per key: each row's value code (-1 = not shared) and whether it asked for
        # "different"; kept for the explanations (:func:`_explain_pairs`)
        self.codes: dict[str, tuple[list[str], IntArray]] = {}
        self.wants_different: dict[str, npt.NDArray[np.bool_]] = {}
        rows = np.arange(n)
        for key, weight in KEY_WEIGHTS.items():
            got = [p.circumstances.get(key) for p in profiles]
            prefs = [p.preferences.get(key) for p in profiles]
            wants_dif = np.array([x == "different" for x in prefs], dtype=bool)
            self.wants_different[key] = wants_dif
            values = sorted({v for v in got if v is not None})
            col = {v: i for i, v in enumerate(values)}
            code = np.array([-1 if v is None else col[v] for v in got], dtype=np.int64)
            self.codes[key] = (values, code)
            if not values:
                continue
            onehot = np.zeros((n, len(values)))
            has = code >= 0
            onehot[rows[has], code[has]] = 1.0
            present = has.astype(np.float64)
            has_choice = key in PREFERENCE_KEYS
            if has_choice:  # see _pref_weights
                sim = np.array([x == "similar" for x in prefs], dtype=np.float64)
                dif = wants_dif.astype(np.float64)
            else:
                sim, dif = np.ones(n), np.zeros(n)
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
        row_type: list[int] = []
        row_offset: list[float] = []
        for p in profiles:
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
            row_type.append(t)
            row_offset.append(off)
        self.type = np.array(row_type, dtype=np.int64).reshape(n)
        self.offset = np.array(row_offset, dtype=np.float64).reshape(n)
        self.tz_known = np.array(known, dtype=bool)[self.type]  # per row, for explanations
        self.tz_different = (np.array(tdif) > 0)[self.type]  # known and asked for different
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


def _same_code(key: str, value: str) -> str | None:
    """The reason for two members sharing ``value`` for ``key`` (None: not worth saying)."""
    if key == "caregiving":
        return f"both_caregiving:{value}" if value != "none" else None
    if key == "first_gen":
        return "both_first_gen" if value == "yes" else None
    return f"same_{key}:{value}"


def _explain_pairs(model: _Model, a: IntArray, b: IntArray) -> list[tuple[str, ...]]:
    """:func:`_explain_rows` of the pairs (a[i], b[i]), vectorised over the pairs: the same
    codes in the same order (a round has thousands of pairs; one call each cost 25 µs)."""
    out: list[list[str]] = [[] for _ in range(len(a))]

    def add(mask: npt.NDArray[np.bool_], texts: Sequence[str | None] | str,
            codes: IntArray | None = None) -> None:  # fmt: skip
        idx = np.flatnonzero(mask)
        if isinstance(texts, str):
            for i in idx.tolist():
                out[i].append(texts)
            return
        assert codes is not None
        for i, c in zip(idx.tolist(), codes[idx].tolist(), strict=True):
            text = texts[c]
            if text is not None:
                out[i].append(text)

    for key in KEY_WEIGHTS:
        values, code = model.codes[key]
        ca, cb = code[a], code[b]
        both = (ca >= 0) & (cb >= 0)
        add(both & (ca == cb), [_same_code(key, v) for v in values], ca)
        wd = model.wants_different[key]
        add(both & (ca != cb) & (wd[a] | wd[b]), f"different_{key}")
    known = model.tz_known[a] & model.tz_known[b]
    d = np.abs(model.offset[a] - model.offset[b]) % 24.0
    spread = np.minimum(d, 24.0 - d)
    add(known & (spread == 0), "same_timezone")
    add(known & (spread > 0) & (spread <= 2), "near_timezone")
    far = known & (spread >= 6) & (model.tz_different[a] | model.tz_different[b])
    add(far, "different_timezone")
    ta, tb = model.type[a], model.type[b]
    th = model.type_masks_hours
    hours = model.overlap_hours[ta, tb].astype(np.int64)
    with_hours = (th[ta] > 0) & (th[tb] > 0) & (hours != 0)
    add(with_hours, [f"overlap_hours:{h}" for h in range(int(hours.max(initial=0)) + 1)], hours)
    return [tuple(r) for r in out]


# --------------------------------------------------------------------------------------
# Effective weights (history, fairness, priority)
# --------------------------------------------------------------------------------------


@dataclass
class _Context:
    model: _Model
    forb_a: IntArray  # forbidden pairs, both directions (model rows), sorted by forb_a
    forb_b: IntArray
    pen_a: IntArray  # repeat penalties, both directions, one entry per pair and direction,
    # sorted by pen_a (so a block of rows finds its entries by bisection, see _effective)
    pen_b: IntArray
    pen_v: FloatArray
    degree: IntArray  # allowed partners per row
    pen_key: IntArray  # sorted i*n+j (i<j) of penalised pairs
    pen_val: FloatArray
    forb_key: IntArray  # sorted i*n+j (i<j) of forbidden pairs
    factor: FloatArray  # per-row shortfall term
    bonus: FloatArray  # per-row priority bonus
    trios: FloatArray  # per-row past trios


def _rows_of(ids: IntArray, flat: IntArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Model rows of the user ids ``flat`` and which of them are known."""
    if (ids[1:] > ids[:-1]).all():  # sorted (run_matching sorts the profiles)
        rows = np.minimum(np.searchsorted(ids, flat), len(ids) - 1)
    else:
        order = np.argsort(ids, kind="stable")
        rows = order[np.minimum(np.searchsorted(ids[order], flat), len(ids) - 1)]
    return rows, ids[rows] == flat


def _forbidden_rows(ids: IntArray, pairs: frozenset[frozenset[int]]) -> tuple[IntArray, IntArray]:
    """Forbidden pairs as model rows (a < b), sorted by (a, b), de-duplicated; unknown ids
    are ignored."""
    if set(map(len, pairs)) <= {2}:
        members = list(chain.from_iterable(pairs))
    else:  # malformed entries (not two ids) are ignored
        members = list(chain.from_iterable(p for p in pairs if len(p) == 2))
    if not members or not len(ids):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    rows, known = _rows_of(ids, np.array(members, dtype=np.int64))
    rows = rows.reshape(-1, 2)[known.reshape(-1, 2).all(axis=1)]
    a, b = np.minimum(rows[:, 0], rows[:, 1]), np.maximum(rows[:, 0], rows[:, 1])
    key = np.sort(a * len(ids) + b)  # distinct: the pairs are distinct sets of distinct ids
    return key // len(ids), key % len(ids)


def _repeat_penalties(request: MatchRequest, ids: IntArray) -> tuple[IntArray, FloatArray]:
    """Sorted keys i*n+j (i<j, model rows) of the pairs who met before, and their penalties.

    A pair's penalty is the sum over its past meetings, added in the order of
    ``history.groups`` (``np.add.at`` adds in index order: the same float sum as a loop).
    """
    n = len(ids)
    flat: list[int] = []
    size: list[int] = []
    rnd: list[int] = []
    for g in request.history.groups:
        if g.round_index < request.round_index:
            flat.extend(g.members)
            size.append(len(g.members))
            rnd.append(g.round_index)
    if max(size, default=0) < 2 or not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    members = np.array(flat, dtype=np.int64)
    sizes = np.array(size, dtype=np.int64)
    group = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    rows, known = _rows_of(ids, members)
    rows, group = rows[known], group[known]
    # every pair inside a group: member x with the member d places later, same group
    a_parts: list[IntArray] = []
    b_parts: list[IntArray] = []
    g_parts: list[IntArray] = []
    for d in range(1, int(sizes.max())):
        same = group[d:] == group[:-d]
        a_parts.append(rows[:-d][same])
        b_parts.append(rows[d:][same])
        g_parts.append(group[d:][same])
    a, b, grp = np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(g_parts)
    order = np.argsort(grp, kind="stable")  # group order, as the sum above requires
    a, b, grp = a[order], b[order], grp[order]
    half = max(request.half_life_rounds, 1e-9)
    age = request.round_index - np.array(rnd, dtype=np.float64)
    per_group = REPEAT_PENALTY * 0.5 ** (age / half)
    keys, inverse = np.unique(np.minimum(a, b) * n + np.maximum(a, b), return_inverse=True)
    values = np.zeros(len(keys))
    np.add.at(values, inverse, per_group[grp])
    return keys, values


def _build_context(request: MatchRequest, profiles: Sequence[MatchProfile]) -> _Context:
    model = _Model(profiles, request.week_start_utc, request.default_timezone, request.seed)
    n = len(profiles)
    fa, fb = _forbidden_rows(model.ids, request.forbidden_pairs)
    degree = n - 1 - np.bincount(fa, minlength=n) - np.bincount(fb, minlength=n)
    pen_key, pv = _repeat_penalties(request, model.ids)
    pa, pb = pen_key // max(n, 1), pen_key % max(n, 1)
    sf = request.history.shortfall
    factor = np.array(
        [SHORTFALL_GAIN * min(max(sf.get(p.user_id, 0.0), 0.0), SHORTFALL_CAP) for p in profiles],
        dtype=np.float64,
    )
    prio = request.history.priority
    bonus = np.array([PRIORITY_BONUS if p.user_id in prio else 0.0 for p in profiles])
    tc = request.history.trio_counts
    trios = np.array([float(tc.get(p.user_id, 0)) for p in profiles])
    forb = np.argsort(np.concatenate([fa, fb]), kind="stable")
    pen = np.argsort(np.concatenate([pa, pb]), kind="stable")
    return _Context(
        model,
        np.concatenate([fa, fb])[forb],
        np.concatenate([fb, fa])[forb],
        np.concatenate([pa, pb])[pen],
        np.concatenate([pb, pa])[pen],
        np.concatenate([pv, pv])[pen],
        degree,
        pen_key,
        pv,
        fa * n + fb,  # sorted already (see _forbidden_rows)
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
    if not len(rows):
        return w
    # only the entries whose first row lies in [min(rows), max(rows)]: a row block of the
    # candidate pass is 1/13 of the rows at n = 5,000 (the arrays are sorted by first row)
    first, last = int(rows.min()), int(rows.max())
    if len(ctx.forb_a):
        sl = slice(*np.searchsorted(ctx.forb_a, [first, last + 1]).tolist())
        i, j = rpos[ctx.forb_a[sl]], cpos[ctx.forb_b[sl]]
        ok = (i >= 0) & (j >= 0)
        w[i[ok], j[ok]] = -np.inf
    if history and len(ctx.pen_a):
        sl = slice(*np.searchsorted(ctx.pen_a, [first, last + 1]).tolist())
        i, j = rpos[ctx.pen_a[sl]], cpos[ctx.pen_b[sl]]
        ok = (i >= 0) & (j >= 0)
        w[i[ok], j[ok]] -= ctx.pen_v[sl][ok]
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
