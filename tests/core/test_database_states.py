"""What the database can look like when the bot starts, through the real `cohortbot` process.

Each bad state is one line on stderr and exit code 2 (never a traceback, never a bot that
starts and then fails every write). The states: unreadable, truncated, newer schema, read-only
file, read-only folder (new and existing database), a missing folder that cannot be created, a
full disk (a new database, a closed one, one left open by a crash). A missing folder that can
be created is created. (Not a database at all: tests/integration/test_cli.py.)

How the states are made real, also when the tests run as root (root ignores file modes):
the child process loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its capability bounding
set before it starts Python, so chmod binds it like any other user. A full disk is
RLIMIT_FSIZE in the child (Python ignores SIGXFSZ, so a write past the limit fails with EFBIG,
which SQLite reports as a write error, as it does for ENOSPC).

While running, a database that stops taking writes (a full disk mid-run; here the live
connection is switched to ``query_only``) makes the outbox sender and the activity writer log
one traceback and back off, not log one every pass; they recover by themselves.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import resource
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import AppContext
from bot.outbox.repository import OutboxRow
from bot.outbox.sender import OutboxSender, SenderConfig
from bot.outbox.transport import DiscordTransport
from bot.store.activity import ActivityEvent, ActivityRecorder, ActivityRepository
from bot.store.db import Database
from tests.support.course import Course
from tests.support.logs import ErrorLogWatcher
from tests.support.processes import clean_env

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _drop_file_overrides() -> None:
    """In the child before exec: a root process keeps no right to ignore file modes."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


async def cohortbot(
    tmp_path: Path, database: Path, *args: str, preexec: Callable[[], None] | None = None
) -> tuple[int, str, str]:
    env = clean_env(tmp_path, DATABASE_PATH=str(database), DISCORD_TOKEN="x.y.z")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), *args,
        cwd=tmp_path, env=env, preexec_fn=preexec,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def refused(
    tmp_path: Path,
    database: Path,
    command: str = "check",
    preexec: Callable[[], None] | None = _drop_file_overrides,
) -> str:
    """Run the command; it must exit 2 with exactly one line on stderr. Returns the line."""
    code, out, err = await cohortbot(tmp_path, database, command, preexec=preexec)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, f"exit {code}\n{out}\n{err}"
    assert lines[0].startswith("cohortbot: DATABASE_PATH") and "Traceback" not in out
    return lines[0]


async def migrated(path: Path) -> Path:
    await (await Database.open(path)).close()
    return path


@pytest.fixture(scope="module")
def modes_bind() -> None:
    """Skip where this process cannot make file modes bind a child (root without the right
    to drop capabilities)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(23, _CAP_DAC_OVERRIDE, 0, 0, 0) != 1:  # PR_CAPBSET_READ
        pytest.skip("cannot drop CAP_DAC_OVERRIDE for the child process")


# ---------------------------------------------------------------------- at start


async def test_read_only_file_is_refused_by_check_and_run(tmp_path: Path, modes_bind: None) -> None:
    db = await migrated(tmp_path / "data" / "bot.db")
    db.chmod(0o444)
    line = await refused(tmp_path, db, "check")
    assert "cannot be written" in line and "write access" in line
    line = await refused(tmp_path, db, "run")
    assert "cannot be written" in line


async def test_read_only_folder_new_database(tmp_path: Path, modes_bind: None) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    line = await refused(tmp_path, folder / "bot.db")
    assert "cannot open" in line and "folder" in line
    assert not (folder / "bot.db").exists()


async def test_read_only_folder_existing_database(tmp_path: Path, modes_bind: None) -> None:
    db = await migrated(tmp_path / "data" / "bot.db")
    db.parent.chmod(0o555)  # SQLite cannot create the -wal and -shm files beside it
    line = await refused(tmp_path, db)
    assert "cannot" in line


async def test_backup_into_a_read_only_folder(tmp_path: Path, modes_bind: None) -> None:
    db = await migrated(tmp_path / "bot.db")
    folder = tmp_path / "backups"
    folder.mkdir()
    folder.chmod(0o555)
    env = clean_env(tmp_path, DATABASE_PATH=str(db))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), "backup",
        str(folder / "copy.db"), cwd=tmp_path, env=env, preexec_fn=_drop_file_overrides,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, err.decode()
    assert lines[0].startswith("cohortbot: backup to ") and "unable to open" in lines[0]


async def test_unreadable_file(tmp_path: Path, modes_bind: None) -> None:
    db = await migrated(tmp_path / "data" / "bot.db")
    db.chmod(0o000)
    line = await refused(tmp_path, db)
    assert "cannot open" in line and "read and write" in line


async def test_missing_folder_is_created_or_refused(tmp_path: Path, modes_bind: None) -> None:
    code, out, err = await cohortbot(tmp_path, tmp_path / "new" / "deeper" / "bot.db", "check")
    assert code == 0 and "schema version" in out, err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    line = await refused(tmp_path, locked / "sub" / "bot.db")
    assert "cannot create the folder" in line


async def test_truncated_file(tmp_path: Path) -> None:
    db = await migrated(tmp_path / "bot.db")
    with db.open("r+b") as handle:
        handle.truncate(db.stat().st_size // 2)
    line = await refused(tmp_path, db, "run", preexec=None)
    assert "backup" in line


async def test_newer_schema(tmp_path: Path) -> None:
    db = await migrated(tmp_path / "bot.db")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    line = await refused(tmp_path, db, "run", preexec=None)
    assert "newer than this CohortBot knows" in line


async def test_full_disk_existing_database(tmp_path: Path) -> None:
    db = await migrated(tmp_path / "bot.db")
    # As after a crash, the -wal and -shm files are there (another connection keeps them), so
    # opening, checking and reading need no write at all, and the schema is up to date: only
    # the probe finds that nothing can be written.
    other = sqlite3.connect(db)
    try:
        other.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        line = await refused(tmp_path, db, "run", preexec=_file_size_limit(1))
    finally:
        other.close()
    assert "cannot be written" in line and "disk full" in line


async def test_full_disk_while_closed_new_or_existing(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    line = await refused(tmp_path, db, preexec=_file_size_limit(1))
    assert "cannot be written" in line and "disk full" in line
    db = await migrated(tmp_path / "old.db")
    line = await refused(tmp_path, db, preexec=_file_size_limit(1))
    assert "cannot be written" in line and "disk full" in line


# ---------------------------------------------------------------------- while running


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - a plain counter, nothing to await
            await asyncio.sleep(0.01)


def errors_from(watcher: ErrorLogWatcher, logger: str) -> list[logging.LogRecord]:
    return [r for r in watcher.records if r.name == logger]


async def refuse_writes(app: AppContext, refuse: bool) -> None:
    """From now on the outbox refuses every write, as on a full disk (or takes them again):
    SQLite's query_only; on PostgreSQL a trigger that raises."""
    if app.db.dialect != "postgresql":
        await app.db.fetchall(f"PRAGMA query_only = {int(refuse)}")
    elif refuse:
        await app.db.execute_write(
            "CREATE OR REPLACE FUNCTION test_refuse_writes() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'writes refused (test)'; END $$"
        )
        await app.db.execute_write(
            "CREATE TRIGGER test_refuse_writes BEFORE INSERT OR UPDATE OR DELETE ON outbox "
            "FOR EACH STATEMENT EXECUTE FUNCTION test_refuse_writes()"
        )
    else:
        await app.db.execute_write("DROP TRIGGER IF EXISTS test_refuse_writes ON outbox")


async def test_outbox_logs_a_failing_database_once_and_recovers(
    course: Course, error_logs: ErrorLogWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    await course.setup_course()
    app: AppContext | None = course.runner.app
    assert app is not None and app.outbox.sender is not None and course.runner.bot is not None
    await app.outbox.sender.stop()
    error_logs.expect("Outbox sender pass failed")
    claims = 0
    real_claim = app.outbox.repository.claim_due

    async def counted_claim(now: datetime, limit: int, **kw: datetime) -> list[OutboxRow]:
        nonlocal claims
        claims += 1
        return await real_claim(now, limit, **kw)

    monkeypatch.setattr(app.outbox.repository, "claim_due", counted_claim)
    sender = OutboxSender(
        app.outbox,
        DiscordTransport(course.runner.bot),
        app.clock,
        SenderConfig(poll_interval=0.01, max_error_backoff=0.02),
    )
    await refuse_writes(app, True)  # every write now fails, as on a full disk
    sender.start()
    try:
        await wait_until(lambda: claims >= 8)
        assert len(errors_from(error_logs, "bot.outbox.sender")) == 1
        await refuse_writes(app, False)
        await app.outbox.enqueue(
            guild_id=course.guild_id, kind="test:dm", dedupe_key="after", content="back again",
            user_id=course.world.student_ids[0],
        )  # fmt: skip
        await app.outbox.drain()
    finally:
        await refuse_writes(app, False)
        await sender.stop()
    assert [m["content"] for m in course.sandbox.dm_messages(course.world.student_ids[0])][-1:] == [
        "back again"
    ]
    assert len(errors_from(error_logs, "bot.outbox.sender")) == 1


async def test_activity_writer_logs_a_failing_database_once_and_keeps_the_rows(
    tmp_path: Path, error_logs: ErrorLogWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await Database.open(tmp_path / "a.db")
    repository = ActivityRepository(db)
    recorder = ActivityRecorder(repository, flush_interval=0.01)
    error_logs.expect("activity")
    attempts = 0
    real_insert = repository.insert_counts

    async def counted_insert(
        rows: list[tuple[int, int, str, int | None, int, int]], **kwargs: Any
    ) -> None:
        nonlocal attempts
        attempts += 1
        await real_insert(rows, **kwargs)

    monkeypatch.setattr(repository, "insert_counts", counted_insert)
    await db.fetchall("PRAGMA query_only = 1")
    recorder.start()
    try:
        recorder.record(ActivityEvent(1, 2, "message", 3, datetime(2026, 9, 7, tzinfo=UTC)))
        await wait_until(lambda: attempts >= 4)  # four failed writes, one traceback
        assert len(errors_from(error_logs, "bot.store.activity")) == 1
        await db.fetchall("PRAGMA query_only = 0")
        await wait_until(lambda: recorder.written == 1, timeout=30)
    finally:
        await db.fetchall("PRAGMA query_only = 0")
        await recorder.stop()
        await db.close()
    assert len(errors_from(error_logs, "bot.store.activity")) == 1


async def test_a_send_whose_outcome_cannot_be_recorded_is_settled_not_failed_or_resent(
    course: Course, error_logs: ErrorLogWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    await course.setup_course()
    app = course.runner.app
    assert app is not None
    error_logs.expect("Recording an outbox send failed")
    real_mark_sent = app.outbox.repository.mark_sent
    refusals = 0

    async def full_disk_once(row_id: int, **kw: object) -> None:
        nonlocal refusals
        if refusals == 0:
            refusals += 1
            raise sqlite3.OperationalError("database or disk is full")
        await real_mark_sent(row_id, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(app.outbox.repository, "mark_sent", full_disk_once)
    student = course.world.student_ids[0]
    row_id = await app.outbox.enqueue(
        guild_id=course.guild_id, kind="test:dm", dedupe_key="x", content="only once",
        user_id=student,
    )  # fmt: skip
    assert row_id is not None
    await app.outbox.drain()
    await app.outbox.drain()  # the pass after the refusal settles the row from history
    row = await app.outbox.get(course.guild_id, row_id)
    assert row is not None and row.state == "sent" and refusals == 1
    sent = [m for m in course.sandbox.dm_messages(student) if m["content"] == "only once"]
    assert len(sent) == 1 and row.message_id == int(str(sent[0]["id"]))
