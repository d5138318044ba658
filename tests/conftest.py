"""Shared test fixtures: no network beyond loopback, and ERROR logs fail the test."""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

WATCHED_LOGGERS = ("discord", "bot", "cogs", "sandbox", "demo")


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # unix sockets and the like stay on this machine
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def refuse_non_loopback() -> Iterator[None]:
    """Tests talk only to the sandbox on 127.0.0.1: anything else is a bug."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
        return original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
        return original_connect_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = original_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]


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

    def unexpected(self) -> list[str]:
        lines = []
        for record in self.records:
            message = record.getMessage()
            if not any(p.search(message) for p in self.expected):
                lines.append(f"{record.name}: {message}")
        return lines


@pytest.fixture(autouse=True)
def error_logs() -> Iterator[ErrorLogWatcher]:
    watcher = ErrorLogWatcher()
    root = logging.getLogger()
    root.addHandler(watcher)
    try:
        yield watcher
    finally:
        root.removeHandler(watcher)
    unexpected = watcher.unexpected()
    if unexpected:
        pytest.fail("unexpected ERROR log lines:\n" + "\n".join(unexpected))
