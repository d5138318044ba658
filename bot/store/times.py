"""How the database stores an instant: one representation, one pair of helpers.

Every column that holds an instant (a moment on the time line: ``created_at``, ``sent_at``,
``paused_until`` …) is an ``INTEGER`` of **microseconds since the Unix epoch, UTC**. Integers
compare as numbers in SQL (``WHERE sent_at >= ?``, ``ORDER BY``, ``MAX``), port to PostgreSQL
as ``BIGINT`` and keep the full precision of a Python ``datetime``, so two events a few
microseconds apart keep their order and a value reads back as exactly the instant written.
Write with :func:`to_db_time`, read with :func:`from_db_time`; no SQL does date arithmetic
(no SQLite date functions): bounds are computed in Python and passed as parameters.

Not instants, and so not stored this way: a calendar date (``until_date``, ``start_date``,
``week_start``, a ledger ``slot`` or ``week_key``: ISO ``YYYY-MM-DD`` text) and a local
wall-clock time (``local_time``, ``quiet_start``, ``batch_time``: ``HH:MM`` text). They name a
day or a time of day in some time zone, not a moment.

A column holds an instant exactly when :func:`is_time_column` says so (its name ends in
``_at``, or is ``paused_until`` or ``not_before``); a test checks every such column in the
schema is an ``INTEGER``, and the data export shows them to the student as ISO-8601 text
(:func:`export_row`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = [
    "INSTANT_COLUMNS",
    "export_row",
    "from_db_time",
    "is_time_column",
    "maybe_from_db_time",
    "maybe_to_db_time",
    "to_db_second",
    "to_db_time",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_ONE_SECOND: Final = timedelta(seconds=1)
#: One second in the stored unit.
DB_SECOND: Final = 1_000_000

#: Instant columns whose name does not end in ``_at``.
INSTANT_COLUMNS: Final = frozenset({"paused_until", "not_before"})


def to_db_time(instant: datetime) -> int:
    """An aware datetime as microseconds since the Unix epoch (UTC), the stored form.

    Only for instants: a calendar date or a local wall-clock time is not one and is stored
    as ISO text (``date.isoformat()``, ``"HH:MM"``), not through this helper."""
    return _whole_units_since_epoch(instant, _MICROSECOND)


def to_db_second(instant: datetime) -> int:
    """:func:`to_db_time` rounded down to a whole second, counted in seconds directly
    (activity counts one row per second, on every message's path)."""
    return _whole_units_since_epoch(instant, _ONE_SECOND) * DB_SECOND


def _whole_units_since_epoch(instant: datetime, unit: timedelta) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("timestamps stored in the database must be timezone-aware")
    # Exact integer arithmetic: instant.timestamp() is a float and can be off by a microsecond.
    return (instant - _EPOCH) // unit


def from_db_time(value: int) -> datetime:
    """Read a value written by :func:`to_db_time` back as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(value))


def maybe_to_db_time(instant: datetime | None) -> int | None:
    """:func:`to_db_time` for a nullable column."""
    return None if instant is None else to_db_time(instant)


def maybe_from_db_time(value: int | None) -> datetime | None:
    """:func:`from_db_time` for a nullable column."""
    return None if value is None else from_db_time(value)


def is_time_column(name: str) -> bool:
    """Whether a column of this name holds an instant (and so is stored by :func:`to_db_time`)."""
    return name.endswith("_at") or name in INSTANT_COLUMNS


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row for a person's data export: instants as ISO-8601 UTC text, the rest unchanged."""
    return {
        key: from_db_time(value).isoformat()
        if is_time_column(key) and isinstance(value, int) and not isinstance(value, bool)
        else value
        for key, value in row.items()
    }
