"""Fixtures every test folder shares: no network beyond loopback, ERROR logs fail the test,
the sandbox (a fake Discord on 127.0.0.1), and a course server in it with the real bot connected.

The classes and helpers these fixtures hand out live in `tests.support`, so tests import
them from there, never from a conftest or another test module."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from bot.clock import FakeClock
from bot.store.db import Database
from bot.store.engine import open_database
from sandbox.harness import BotRunner, build_course_world
from sandbox.server import SandboxServer
from tests.support.course import Course
from tests.support.logs import ErrorLogWatcher
from tests.support.postgres import PostgresTestServer

# No per-example time limit: a test judges what the code does, never how fast (make test runs
# the suite on every core at once, so an example's time says more about its neighbours).
settings.register_profile("cohortbot", deadline=None)
settings.load_profile("cohortbot")


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresTestServer]:
    """One throwaway PostgreSQL server for the session (started only if a test needs it)."""
    server = PostgresTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Where a store test opens its database, once per backend: an SQLite file path or the
    URL of a fresh, migrated PostgreSQL database (emptied afterwards)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    server: PostgresTestServer = request.getfixturevalue("postgres_server")
    url = await server.fresh_database()
    try:
        yield url
    finally:
        await server.release(url)


@pytest.fixture
async def db(store_target: str) -> AsyncIterator[Database]:
    """A migrated database on each backend (see ``store_target``); a test module with its own
    ``db`` fixture (an SQLite-only one) uses that instead."""
    database = await open_database(store_target)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def postgres_url(postgres_server: PostgresTestServer) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for a PostgreSQL-only test."""
    url = await postgres_server.fresh_database()
    try:
        yield url
    finally:
        await postgres_server.release(url)


@pytest.fixture
async def empty_postgres_url(postgres_server: PostgresTestServer) -> AsyncIterator[str]:
    """A PostgreSQL database with no schema at all (dropped afterwards)."""
    url = await postgres_server.fresh_database(migrated=False)
    try:
        yield url
    finally:
        await postgres_server.drop(url)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert not server.unknown_routes, (
        f"the bot used routes the sandbox lacks: {server.unknown_routes}"
    )


@pytest.fixture
async def course(
    sandbox: SandboxServer, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Course]:
    """The course server with the bot connected; on SQLite, or on PostgreSQL for a whole run
    with ``COHORTBOT_TEST_STORE=postgresql`` (the integration suite end to end)."""
    world = await build_course_world(sandbox, students=6)
    clock = FakeClock(datetime(2026, 9, 7, 14, 0, tzinfo=UTC))
    db_path = tmp_path / "cohortbot.db"
    url: str | None = None
    server: PostgresTestServer | None = None
    if os.environ.get("COHORTBOT_TEST_STORE") == "postgresql":
        server = request.getfixturevalue("postgres_server")
        url = await server.fresh_database()
    # On PostgreSQL claims carry a lease; a short one lets a "crashed" claim expire
    # (Course.expire_claims) without waiting.
    runner = BotRunner(
        sandbox,
        db_path,
        clock=clock,
        dev_guild_id=world.guild_id,
        database_url=url,
        outbox_lease_seconds=1 if url is not None else None,
    )
    await runner.start()
    state = Course(sandbox, world, runner, clock, db_path, url)
    try:
        yield state
    finally:
        await state.runner.stop()
        if server is not None and url is not None:
            await server.release(url)
