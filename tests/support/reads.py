"""Watching the reads a repository makes, for the tests of what it keeps in memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.store.db import Database


class ReadSpy:
    """Wraps one of ``db``'s read methods (``fetchall``, ``fetchcolumn`` …): records the SQL
    of each read whose SQL contains ``fragment`` and, once such a read has its rows, runs the
    ``during_read`` actions before handing them over (a write that commits while the rows
    are in hand)."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, db: Database, method: str, fragment: str = ""
    ) -> None:
        self.reads: list[str] = []
        self.during_read: list[Callable[[], Awaitable[Any]]] = []
        real = getattr(db, method)

        async def spy(*args: Any, **kwargs: Any) -> Any:
            sql = kwargs.get("sql") or next(arg for arg in args if isinstance(arg, str))
            found = await real(*args, **kwargs)
            if fragment in sql:
                self.reads.append(sql)
                for action in self.during_read:
                    await action()
            return found

        monkeypatch.setattr(db, method, spy)
