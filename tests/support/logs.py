"""The watcher that turns an unexpected ERROR log line into a test failure."""

from __future__ import annotations

import logging
import re

WATCHED_LOGGERS = ("discord", "bot", "cogs", "sandbox", "demo")


class ErrorLogWatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected: list[re.Pattern[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in WATCHED_LOGGERS:
            self.records.append(record)

    def expect(self, pattern: str) -> None:
        """Declare an ERROR line this test provokes on purpose."""
        self.expected.append(re.compile(pattern))

    def seen(self, pattern: str) -> list[logging.LogRecord]:
        """The ERROR records whose message matches: to check an expected line was written."""
        return [r for r in self.records if re.search(pattern, r.getMessage())]

    def unexpected(self) -> list[str]:
        lines = []
        for record in self.records:
            message = record.getMessage()
            if not any(p.search(message) for p in self.expected):
                lines.append(f"{record.name}: {message}")
        return lines
