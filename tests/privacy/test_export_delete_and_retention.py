"""Students own their data: info, export, delete (kept deleted across restores), retention."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from bot.store.times import is_time_column
from bot.store.tombstones import TombstoneFile
from cogs.privacy import PrivacyService
from tests.support.course import Course, sqlite_file_only
from tests.support.intros import intro_channel, join, write_intro
from tests.support.privacy import asked_button


async def make_personal_data(course: Course, user_id: int) -> None:
    """Activity in a tracked channel: rows that name the student."""
    coffee = course.sandbox.find_channel(course.guild_id, "coffee-shop")
    assert coffee
    app = course.runner.app
    assert app is not None
    before = app.activity_recorder.pending
    await course.sandbox.send_message(coffee, user_id, "Hello from me")
    await course.sandbox.wait_for(lambda: app.activity_recorder.pending > before)
    await app.activity_recorder.flush()


async def mentions(course: Course, user_id: int) -> dict[str, int]:
    app = course.runner.app
    assert app is not None
    await app.activity_recorder.flush()
    return await app.services.get(PrivacyService).repository.rows_mentioning(
        course.guild_id, user_id
    )


async def test_info_says_what_is_stored_and_who_can_read_private_threads(course: Course) -> None:
    await course.setup_course()
    text = (await course.slash(course.world.student_ids[0], "privacy info")).text()
    assert "Manage Threads can read private threads" in text
    assert "/privacy delete" in text and "180 days" in text


async def test_export_returns_every_row_about_the_caller_as_json(course: Course) -> None:
    await course.setup_course()
    student, other = course.world.student_ids[:2]
    await make_personal_data(course, student)
    await make_personal_data(course, other)
    record = await course.slash(student, "privacy export")
    files = [f for r in record.responses for f in r.get("files") or []]
    assert len(files) == 1 and files[0]["filename"] == "cohortbot-my-data.json"
    data = json.loads(files[0]["data"])
    assert data["user_id"] == str(student)
    assert data["tables"]["activity"], data
    # Instants are stored as integers; the student reads them as ISO-8601 text.
    times = [
        value
        for rows in data["tables"].values()
        for row in rows
        for column, value in row.items()
        if is_time_column(column) and value is not None
    ]
    assert times and all(datetime.fromisoformat(v).tzinfo is not None for v in times), times
    # Only the caller's rows: the export never carries another student's data.
    assert str(other) not in json.dumps(data)
    assert all(r["ephemeral"] for r in record.responses if r["kind"] != "deferred")


async def test_delete_erases_every_row_and_keeps_others(course: Course) -> None:
    await course.setup_course()
    student, other = course.world.student_ids[:2]
    await make_personal_data(course, student)
    await make_personal_data(course, other)
    assert await mentions(course, student)
    asked = await course.slash(student, "privacy delete")
    message_id = asked.responses[0]["message_id"]
    done = await course.sandbox.click_button(
        course.world.general_channel_id, message_id, student, asked_button(asked, "Yes")
    )
    await done.wait_final()
    await course.sandbox.wait_for(lambda: "erased" in done.text())
    assert await mentions(course, student) == {}
    assert await mentions(course, other) != {}
    app = course.runner.app
    assert app is not None
    # Beside the store (on PostgreSQL that is its files folder, not the SQLite path).
    assert TombstoneFile.beside(Path(app.db.path)).tombstones()


async def test_cancel_deletes_nothing(course: Course) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    await make_personal_data(course, student)
    asked = await course.slash(student, "privacy delete")
    clicked = await course.sandbox.click_button(
        course.world.general_channel_id,
        asked.responses[0]["message_id"],
        student,
        asked_button(asked, "No"),
    )
    await clicked.wait_final()
    assert await mentions(course, student) != {}


def restore(backup: Path, database: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    shutil.copyfile(backup, database)


@sqlite_file_only("copies and restores the database file (PostgreSQL: pg_dump, tested apart)")
async def test_deletion_is_reapplied_after_restoring_an_older_backup(
    course: Course, tmp_path: Path
) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    await make_personal_data(course, student)
    app = course.runner.app
    assert app is not None
    backup = await app.db.backup(tmp_path / "before-delete.db")
    await app.services.get(PrivacyService).delete_user(course.guild_id, student)
    assert await mentions(course, student) == {}
    # The restore procedure from docs/operations.md: stop, replace the file, start.
    await course.runner.stop()
    restore(backup, course.db_path)
    await course.restart_bot()
    assert await mentions(course, student) == {}


async def test_removed_guild_is_purged_after_the_grace_period_unless_readded(
    course: Course,
) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    await make_personal_data(course, student)
    app = course.runner.app
    assert app is not None
    now = course.clock.now()
    await app.template_overrides.set(course.guild_id, "welcome", "Hi", updated_by=1, now=now)
    assert await app.templates.body(course.guild_id, "welcome") == "Hi"  # cached now
    await course.sandbox.kick_bot(course.guild_id)
    await course.sandbox.wait_for(lambda: course.runner.bot.get_guild(course.guild_id) is None)  # type: ignore[union-attr]
    await app.services.get(PrivacyService).repository.removed_before(
        course.clock.now() + timedelta(seconds=1)
    )
    course.clock.advance(timedelta(days=29))
    assert await app.services.get(PrivacyService).purge_due(course.clock.now()) == (0, 0)
    assert await app.guild_configs.get(course.guild_id) is not None
    course.clock.advance(timedelta(days=2))
    await app.maintenance.tick(course.clock.now())
    assert await app.guild_configs.get(course.guild_id) is None
    assert await mentions(course, student) == {}
    # The purge deleted the override behind the cache's back; the cache forgot it too.
    assert await app.templates.body(course.guild_id, "welcome") != "Hi"


async def test_readded_guild_keeps_its_data(course: Course) -> None:
    await course.setup_course()
    app = course.runner.app
    assert app is not None
    await course.sandbox.kick_bot(course.guild_id)
    await course.sandbox.wait_for(lambda: course.runner.bot.get_guild(course.guild_id) is None)  # type: ignore[union-attr]
    await course.sandbox.readd_bot(course.guild_id)
    await course.sandbox.wait_for(lambda: course.runner.bot.get_guild(course.guild_id) is not None)  # type: ignore[union-attr]
    course.clock.advance(timedelta(days=40))
    await app.services.get(PrivacyService).purge_due(course.clock.now())
    assert await app.guild_configs.get(course.guild_id) is not None


async def test_closed_term_is_purged_after_retention(course: Course) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    await make_personal_data(course, student)
    app = course.runner.app
    assert app is not None
    cohorts = await app.guild_settings.cohorts(course.guild_id)
    await app.services.get(PrivacyService).term_closed(
        course.guild_id, cohorts[0].cohort_id, [student]
    )
    course.clock.advance(timedelta(days=179))
    await app.services.get(PrivacyService).purge_due(course.clock.now())
    assert await mentions(course, student) != {}
    course.clock.advance(timedelta(days=2))
    assert await app.services.get(PrivacyService).purge_due(course.clock.now()) == (0, 1)
    assert await mentions(course, student) == {}
    # Settings (not personal) stay for the next cohort.
    assert await app.guild_configs.get(course.guild_id) is not None


@sqlite_file_only("the daily backup copies the database file; PostgreSQL uses pg_dump")
async def test_daily_backup_runs_once_a_day_and_keeps_the_newest(course: Course) -> None:
    app = course.runner.app
    assert app is not None
    app.maintenance.backup_keep = 2
    for _ in range(4):
        await app.maintenance.tick(course.clock.now())
        await app.maintenance.tick(course.clock.now())  # a second wake-up the same day
        course.clock.advance(timedelta(days=1))
    backups = sorted(app.maintenance.backup_folder.glob("cohortbot-*.db"))
    assert len(backups) == 2
    assert backups[-1].name.startswith("cohortbot-20260910")


async def test_delete_removes_the_bots_intro_post_and_welcome(course: Course) -> None:
    await course.setup_course()
    newcomer = await join(course, "Nadia New")
    channel = await intro_channel(course)
    await course.sandbox.wait_for(
        lambda: any(
            str(newcomer) in (m.get("content") or "") for m in course.sandbox.messages(channel)
        )
    )
    await write_intro(course, newcomer, {"call_me": "Nadia (she/her)", "balancing": "two jobs"})
    app = course.runner.app
    assert app is not None
    posts = await app.services.get(PrivacyService).posts_to_delete(course.guild_id, newcomer)
    assert len(posts) == 2  # the intro embed and the welcome that greeted her
    await app.services.get(PrivacyService).delete_user(
        course.guild_id,
        newcomer,
        delete_post=lambda c, m: course.runner.bot.http.delete_message(c, m),  # type: ignore[union-attr]
    )
    remaining = {int(m["id"]) for m in course.sandbox.messages(channel)}
    assert not {message_id for _, message_id in posts} & remaining
    assert await mentions(course, newcomer) == {}
