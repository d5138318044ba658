"""Log once, back off: for background loops that retry after an error.

A loop that logs a traceback on every retry turns one problem (a full disk, a database that
became read-only) into a log of thousands of identical tracebacks. :class:`FailureBackoff`
logs the first failure with its traceback, only counts the repeats, doubles the wait up to a
cap, and logs one line when the loop works again.
"""

from __future__ import annotations

import logging

__all__ = ["FailureBackoff"]


class FailureBackoff:
    """``failed()`` in the loop's ``except`` (returns the seconds to wait), ``succeeded()``
    after a pass that worked."""

    def __init__(self, logger: logging.Logger, what: str, *, base: float, cap: float) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self._log = logger
        self._what = what
        self._base = base
        self._cap = cap
        #: failures in a row (0 while the loop works)
        self.failures = 0

    def failed(self) -> float:
        """Call from inside ``except``: the first failure in a row is logged with its
        traceback, later ones only at DEBUG. Returns how long to wait before retrying."""
        self.failures += 1
        if self.failures == 1:
            self._log.exception(
                "%s failed; retrying with backoff (repeats are not logged until it works again)",
                self._what,
            )
        else:
            self._log.debug("%s failed again (%d in a row)", self._what, self.failures)
        return self.delay()

    def delay(self) -> float:
        if self.failures == 0:
            return 0.0
        return min(self._cap, self._base * 2 ** min(self.failures - 1, 30))

    def succeeded(self) -> bool:
        """Call after a pass that worked; True when it had been failing (logged once)."""
        if self.failures == 0:
            return False
        self._log.warning("%s works again after %d failed attempts", self._what, self.failures)
        self.failures = 0
        return True
