"""What the roster adds elsewhere: the digest's "not on the server yet" line and CSV rows, the
participation export, nudges, close-term and retention, and the data contract."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from cogs.course import TermService
from cogs.digest import DigestService
from cogs.digest.render import parse_csv
from cogs.nudges import NudgeEngine
from cogs.roster import RosterService
from tests.support.coffee_chats import button
from tests.support.course import Course, app_of
from tests.support.digest import digest_messages, make_lead
from tests.support.intros import FULL_INTRO, write_intro
from tests.support.nudges import opt_in, start_course
from tests.support.privacy import asked_button
from tests.support.roster import (
    attached_csv,
    ephemeral_with,
    import_and_apply,
    import_file,
    issue_codes,
    sample,
)

CHECKIN_DAY = datetime(2026, 9, 23, 14, 5, tzinfo=UTC)


async def entry_id(course: Course, lms_id: str) -> str:
    service = app_of(course).services.get(RosterService)
    students = await service.repository.students(course.guild_id)
    return str(next(s.entry_id for s in students if s.lms_id == lms_id))


async def link(course: Course, member: int, lms_id: str) -> None:
    record = await course.slash(
        course.world.instructor_id,
        "course roster link",
        {"member": member, "student": await entry_id(course, lms_id)},
    )
    assert "now linked" in record.text(), record.text()


def everything_public(course: Course) -> str:
    s = course.sandbox
    leads = s.find_channel(course.guild_id, "cohort-leads")
    texts = []
    for channel in s.channels_in(course.guild_id) + s.threads_in(course.guild_id):
        if int(channel["id"]) == leads:
            continue
        for message in s.messages(int(channel["id"])):
            texts.append(json.dumps(message, default=str))
    return "\n".join(texts)


async def test_the_digest_lists_who_never_arrived_for_leads_only(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    await link(course, course.world.student_ids[0], "40511")
    record = await course.slash(course.world.lead_id, "digest now")
    assert "Posted the digest" in record.text(), record.text()
    messages = digest_messages(course)
    texts = json.dumps(messages, ensure_ascii=False)
    assert "Enrolled, not on the server yet: 2 (2 new this week)" in texts
    assert "Bao Nguyen" in texts and "Lucía García" in texts
    assert "Amara Okafor" not in texts  # linked and on the server
    first = next(m for m in messages if m.get("attachments"))
    csv_file = next(a for a in first["attachments"] if a["filename"].endswith(".csv"))
    rows = parse_csv(course.sandbox.attachment_bytes(int(csv_file["id"])))
    missing = [r for r in rows if r["needs_attention"].startswith("enrolled, not on the server")]
    assert sorted(r["name"] for r in missing) == ["Bao Nguyen", "Lucía García"]
    assert any("LMS id 40512" in r["needs_attention"] for r in missing)
    assert "Bao Nguyen" not in everything_public(course)
    # Someone who left the server counts as not on it.
    await course.sandbox.remove_member(course.guild_id, course.world.student_ids[0])
    await course.sandbox.wait_for(
        lambda: (
            course.runner.bot.get_guild(course.guild_id).get_member(  # type: ignore[union-attr]
                course.world.student_ids[0]
            )
            is None
        )
    )
    guild = course.runner.bot.get_guild(course.guild_id)  # type: ignore[union-attr]
    assert guild is not None
    cohort = (await app_of(course).guild_settings.cohorts(course.guild_id))[0]
    found = (
        await app_of(course)
        .services.get(RosterService)
        .not_arrived(guild, cohort.cohort_id, course.clock.now() - timedelta(days=7))
    )
    assert len(found.students) == 3


async def test_no_digest_line_without_a_roster(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    await course.slash(course.world.lead_id, "digest now")
    assert "not on the server yet" not in json.dumps(digest_messages(course))


async def test_export_counts_per_course_week_keyed_by_lms_id(course: Course) -> None:
    await course.setup_course()
    w = course.world
    record = await course.slash(
        w.instructor_id, "course calendar set", {"start": "2026-09-07", "weeks": 10}
    )
    assert "Saved" in record.text(), record.text()
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    student = w.student_ids[0]
    await link(course, student, "40511")
    await write_intro(course, student, FULL_INTRO)
    course.clock.advance(timedelta(days=8))
    export = await course.slash(w.instructor_id, "course roster export")
    rows = {r["lms_id"]: r for r in attached_csv(export)}
    assert sorted(rows) == ["40511", "40512", "40513"]  # Cohort 1's roster
    assert rows["40511"]["week1_introductions"] == "1"
    assert rows["40511"]["week2_introductions"] == "0"
    assert rows["40511"]["linked"] == "yes" and rows["40512"]["linked"] == "no"
    assert set(rows["40512"]) >= {"week2_prompt_answers", "week2_coffee_chats_met"}
    assert "week3_prompt_answers" not in rows["40512"]  # weeks not begun yet
    info = await course.slash(student, "privacy info")
    assert "export these counts" in info.text(), info.text()


async def test_nudges_never_target_people_not_on_the_server(course: Course) -> None:
    await start_course(course)
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    app = app_of(course)
    s, w = course.sandbox, course.world
    stays, leaves = w.student_ids[:2]
    for student, lms in ((stays, "40511"), (leaves, "40512")):
        await opt_in(course, student)
        await link(course, student, lms)
    await s.remove_member(course.guild_id, leaves)
    await app.activity_recorder.flush()
    course.clock.set(CHECKIN_DAY)
    results = await app.services.get(NudgeEngine).run_due()
    assert [r.queued for r in results if r.kind == "checkin"] == [1]
    await app.outbox.drain()
    assert len(s.dm_messages(stays)) == 1 and s.dm_messages(leaves) == []


async def test_close_term_expires_codes_and_retention_purges_the_roster(course: Course) -> None:
    await course.setup_course()
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    codes = await issue_codes(course)
    app = app_of(course)
    guild = course.runner.bot.get_guild(course.guild_id)  # type: ignore[union-attr]
    assert guild is not None
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    report = await app.services.get(TermService).close(guild, cohort)
    assert any("Join codes expired: 3" in line for line in report.lines), report.lines
    newcomer = course.sandbox.create_user("Late")
    await course.sandbox.add_member(course.guild_id, newcomer)
    refused = await course.slash(newcomer, "join", {"code": codes["40511"]})
    assert "didn't work" in refused.text()
    service = app.services.get(RosterService)
    await import_file(course, "unapplied.csv", sample("plain_latin1.csv"))
    held = ephemeral_with(course, course.world.instructor_id, "cohortbot:roster:apply:")
    import_id = int(button(held, "Apply").split(":")[3])
    assert await service.repository.pending(course.guild_id, import_id) is not None
    await service.purge_due(course.clock.now() + timedelta(days=179))
    # An unapplied preview (names from the file) is gone after a day.
    assert await service.repository.pending(course.guild_id, import_id) is None
    assert len(await service.repository.students(course.guild_id)) == 4
    await service.purge_due(course.clock.now() + timedelta(days=181))
    # Cohort 1's three are gone; the student with no cohort stays with the open roster.
    assert [s.lms_id for s in await service.repository.students(course.guild_id)] == ["40514"]


async def test_privacy_export_and_delete_leave_the_entry_not_linked(course: Course) -> None:
    await course.setup_course()
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    codes = await issue_codes(course)
    s = course.sandbox
    student = s.create_user("Amara")
    await s.add_member(course.guild_id, student)
    await course.slash(student, "join", {"code": "WRON-GCOD-EEEE"})
    joined = await course.slash(student, "join", {"code": codes["40511"]})
    assert "Welcome" in joined.text()
    record = await course.slash(student, "privacy export")
    files = [f for r in record.responses for f in r.get("files") or []]
    data = json.loads(files[0]["data"])
    (row,) = data["tables"]["roster_students"]
    assert row["lms_id"] == "40511" and row["name"] == "Amara Okafor"
    assert len(data["tables"]["roster_attempts"]) == 1
    assert "40512" not in json.dumps(data)  # never anyone else's entry
    asked = await course.slash(student, "privacy delete")
    done = await s.click_button(
        course.world.general_channel_id,
        asked.responses[0]["message_id"],
        student,
        asked_button(asked, "Yes"),
    )
    await done.wait_final()
    await s.wait_for(lambda: "erased" in done.text())
    service = app_of(course).services.get(RosterService)
    stored = {x.lms_id: x for x in await service.repository.students(course.guild_id)}
    assert stored["40511"].user_id is None and stored["40511"].name == "Amara Okafor"
    assert (
        await service.repository.attempts_since(
            course.guild_id, student, course.clock.now() - timedelta(days=1)
        )
        == []
    )


async def test_a_leads_dm_copy_gets_the_count_line_but_no_names(course: Course) -> None:
    """Names stay in the leads channel: a DM outlives the lead's role and the retention."""
    await course.setup_course()
    await make_lead(course)
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    await link(course, course.world.student_ids[0], "40511")
    record = await course.slash(course.world.lead_id, "digest dm", {"state": "on"})
    assert "by DM" in record.text(), record.text()
    app = app_of(course)
    guild = course.runner.bot.get_guild(course.guild_id)  # type: ignore[union-attr]
    assert guild is not None
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    digest = app.services.get(DigestService)
    built = await digest.build(guild, cohort, course.clock.now())
    await digest.deliver(guild, built, occasion="weekly-test")
    await app.outbox.drain()
    dms = json.dumps(course.sandbox.dm_messages(course.world.lead_id), ensure_ascii=False)
    assert "Enrolled, not on the server yet: 2 (2 new this week)" in dms
    assert "the names are in the leads channel" in dms
    assert "Bao Nguyen" not in dms and "Lucía García" not in dms and "40512" not in dms
    # The roster's pages are not counted as needs-attention pages.
    assert "needs-attention list" not in dms


async def test_a_student_who_erased_their_data_on_the_server_is_not_listed_as_absent(
    course: Course,
) -> None:
    await course.setup_course()
    await make_lead(course)
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    student = course.world.student_ids[0]
    await link(course, student, "40511")
    s = course.sandbox
    asked = await course.slash(student, "privacy delete")
    done = await s.click_button(
        course.world.general_channel_id,
        asked.responses[0]["message_id"],
        student,
        asked_button(asked, "Yes"),
    )
    await done.wait_final()
    await s.wait_for(lambda: "erased" in done.text())
    service = app_of(course).services.get(RosterService)
    stored = {x.lms_id: x for x in await service.repository.students(course.guild_id)}
    # Only the mark "arrived, then erased": no Discord id, no instant of theirs.
    assert stored["40511"].user_id is None and stored["40511"].erased_on_server
    record = await course.slash(course.world.lead_id, "digest now")
    assert "Posted the digest" in record.text(), record.text()
    texts = json.dumps(digest_messages(course), ensure_ascii=False)
    assert "Enrolled, not on the server yet: 2 (2 new this week)" in texts
    assert "Amara Okafor" not in texts
    # A join code still links them again if they want.
    codes = await issue_codes(course)
    joined = await course.slash(student, "join", {"code": codes["40511"]})
    assert "Welcome" in joined.text(), joined.text()

    # Retention's erasure (people who may have left long ago) leaves no "arrived" mark.
    await service.repository.retention_purge(course.guild_id, student)
    again = {x.lms_id: x for x in await service.repository.students(course.guild_id)}
    assert again["40511"].user_id is None and not again["40511"].erased_on_server


async def test_every_csv_the_roster_writes_escapes_a_formula_name(course: Course) -> None:
    """A name like =HYPERLINK(…) from the LMS file: never a formula in the codes file, the
    participation export or the digest's CSV."""
    await course.setup_course()
    await make_lead(course)
    w = course.world
    await course.slash(w.instructor_id, "course calendar set", {"start": "2026-09-07", "weeks": 10})
    await import_and_apply(course, "plain.csv", sample("plain_latin1.csv"))
    codes = await course.slash(w.instructor_id, "course roster codes")
    export = await course.slash(w.instructor_id, "course roster export")
    for record in (codes, export):
        (row,) = [r for r in attached_csv(record) if r["lms_id"] == "S2003"]
        assert row["name"].startswith("'=HYPERLINK"), row
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values()), row
    await course.slash(w.lead_id, "digest now")
    first = next(m for m in digest_messages(course) if m.get("attachments"))
    csv_file = next(a for a in first["attachments"] if a["filename"].endswith(".csv"))
    raw = course.sandbox.attachment_bytes(int(csv_file["id"])).decode("utf-8-sig")
    cells = [cell for line in csv.reader(io.StringIO(raw)) for cell in line]
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
