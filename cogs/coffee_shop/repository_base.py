"""What the coffee shop's repository modules share: stored times and the cohort filter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["cohort_filter", "from_ts", "to_ts"]


def to_ts(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return int(instant.timestamp())


def from_ts(value: int) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def cohort_filter(cohort_id: int | None, column: str = "cohort_id") -> tuple[str, tuple[Any, ...]]:
    if cohort_id is None:
        return "", ()
    return f" AND {column} = ?", (cohort_id,)
