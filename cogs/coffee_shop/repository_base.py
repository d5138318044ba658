"""What the coffee shop's repository modules share: the cohort filter."""

from __future__ import annotations

from typing import Any

__all__ = ["cohort_filter"]


def cohort_filter(cohort_id: int | None, column: str = "cohort_id") -> tuple[str, tuple[Any, ...]]:
    if cohort_id is None:
        return "", ()
    return f" AND {column} = ?", (cohort_id,)
