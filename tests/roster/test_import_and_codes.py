"""The roster through the sandbox: import, preview and Apply, re-import, join codes, links."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import UserFacingError
from cogs.roster import RosterService
from tests.support.coffee_chats import button, click
from tests.support.course import Course, app_of
from tests.support.digest import make_lead
from tests.support.roster import (
    attached_csv,
    ephemeral_with,
    import_and_apply,
    import_file,
    issue_codes,
    sample,
)


async def roster(course: Course) -> dict[str, object]:
    students = await app_of(course).services.get(RosterService).repository.students(course.guild_id)
    return {s.lms_id: s for s in students}


async def test_canvas_import_previews_then_apply_stores_exactly_that(course: Course) -> None:
    await course.setup_course()
    preview = await import_file(course, "grades.csv", sample("canvas_gradebook.csv"))
    text = preview.text()
    assert "Canvas" in text and "New students: 4" in text, text
    assert "Evening Section: 1" in text  # a section with no cohort is listed, not created
    assert await roster(course) == {}  # nothing stored before Apply
    message = ephemeral_with(course, course.world.instructor_id, "cohortbot:roster:apply:")
    applied = await click(course, message, course.world.instructor_id, button(message, "Apply"))
    assert "4 new, 0 changed, 0 marked withdrawn" in applied.text(), applied.text()
    stored = await roster(course)
    assert sorted(stored) == ["40511", "40512", "40513", "40514"]
    # Apply again (a double click, or a forged id): nothing more.
    again = await click(course, message, course.world.instructor_id, button(message, "Apply"))
    assert "out of date" in again.text(), again.text()
    # Re-importing the same file changes nothing and offers no Apply.
    same = await import_file(course, "grades.csv", sample("canvas_gradebook.csv"))
    assert "Nothing to change" in same.text(), same.text()
    assert "cohortbot:roster:apply" not in str(same.responses)


async def test_a_stale_or_forged_apply_is_refused(course: Course) -> None:
    await course.setup_course()
    await import_file(course, "a.csv", sample("canvas_gradebook.csv"))
    first = ephemeral_with(course, course.world.instructor_id, "cohortbot:roster:apply:")
    _, _, _, import_id, digest = button(first, "Apply").split(":")
    service = app_of(course).services.get(RosterService)
    for forged_id, forged_hash in ((import_id, "0" * 16), (str(int(import_id) + 1), digest)):
        with pytest.raises(UserFacingError, match="out of date"):
            await service.apply(course.guild_id, int(forged_id), forged_hash)
    with pytest.raises(UserFacingError, match="out of date"):  # another server's click
        await service.apply(course.guild_id + 1, int(import_id), digest)
    await import_and_apply(course, "b.csv", sample("plain_latin1.csv"))
    # The first preview was computed against an empty roster: applying it now would undo.
    stale = await click(course, first, course.world.instructor_id, button(first, "Apply"))
    assert "out of date" in stale.text(), stale.text()
    assert sorted(await roster(course)) == ["S2001", "S2002", "S2003"]


async def test_moodle_and_plain_imports_and_withdrawn_marking(course: Course) -> None:
    await course.setup_course()
    moodle = await import_file(course, "moodle.csv", sample("moodle_participants_utf16.csv"))
    assert "Moodle" in moodle.text() and "UTF-16" in moodle.text(), moodle.text()
    assert "row 6: missing name" in moodle.text()
    await import_and_apply(course, "moodle.csv", sample("moodle_participants_utf16.csv"))
    plain = await import_and_apply(course, "plain.csv", sample("plain_latin1.csv"))
    assert "3 new, 0 changed, 4 marked withdrawn" in plain.text(), plain.text()
    stored = await roster(course)
    assert stored["S1001"].status == "withdrawn"  # type: ignore[attr-defined]
    assert stored["S2001"].name == "José Álvarez"  # type: ignore[attr-defined]


async def test_bad_files_get_a_clear_answer_and_store_nothing(course: Course) -> None:
    await course.setup_course()
    record = await import_file(course, "photo.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    assert "Nothing was imported" in record.text(), record.text()
    record = await import_file(course, "big.csv", b"name,email\n" + b"x" * (6 * 1024 * 1024))
    assert "the limit is 5120 KB" in record.text(), record.text()
    assert await roster(course) == {}


async def test_codes_link_give_the_role_and_work_once(course: Course) -> None:
    await course.setup_course()
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    codes = await issue_codes(course)
    assert sorted(codes) == ["40511", "40512", "40513", "40514"]
    s, w = course.sandbox, course.world
    newcomer = s.create_user("Amara")
    await s.add_member(course.guild_id, newcomer)
    typed = codes["40511"].lower().replace("-", " ")
    joined = await course.slash(newcomer, "join", {"code": typed})
    assert "Welcome, Amara Okafor" in joined.text() and "Cohort 1" in joined.text()
    assert w.student_role_id in s.member_role_ids(course.guild_id, newcomer)
    assert (await roster(course))["40511"].user_id == newcomer  # type: ignore[attr-defined]
    # The same code again, by someone else: refused like any wrong code.
    other = s.create_user("Someone")
    await s.add_member(course.guild_id, other)
    reused = await course.slash(other, "join", {"code": codes["40511"]})
    assert "didn't work" in reused.text() and "Tries left this hour: 4" in reused.text()
    # Reissuing invalidates the old code of a student not linked yet.
    old = codes["40512"]
    fresh = await issue_codes(course)
    assert "40511" not in fresh and fresh["40512"] != old
    refused = await course.slash(other, "join", {"code": old})
    assert "didn't work" in refused.text()
    ok = await course.slash(other, "join", {"code": fresh["40512"]})
    assert "Welcome, Bao Nguyen" in ok.text(), ok.text()
    again = await course.slash(other, "join", {"code": fresh["40513"]})
    assert "already linked to the course roster as Bao Nguyen" in again.text(), again.text()


async def test_five_wrong_tries_pause_across_a_restart(course: Course) -> None:
    await course.setup_course()
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    codes = await issue_codes(course)
    s = course.sandbox
    guesser = s.create_user("Guesser")
    await s.add_member(course.guild_id, guesser)
    for left in (4, 3, 2, 1):
        record = await course.slash(guesser, "join", {"code": "AAAA-AAAA-AAAA"})
        assert f"Tries left this hour: {left}" in record.text(), record.text()
    await course.restart_bot()
    record = await course.slash(guesser, "join", {"code": "not a code"})
    assert "Too many tries" in record.text(), record.text()
    # Paused: even the right code waits.
    record = await course.slash(guesser, "join", {"code": codes["40511"]})
    assert "Too many tries" in record.text()
    course.clock.advance(timedelta(hours=1, minutes=1))
    record = await course.slash(guesser, "join", {"code": codes["40511"]})
    assert "Welcome, Amara Okafor" in record.text(), record.text()


async def test_the_welcome_offers_join_with_a_code(course: Course) -> None:
    await course.setup_course()
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    codes = await issue_codes(course)
    s = course.sandbox
    config = await app_of(course).guild_settings.config(course.guild_id)
    assert config is not None and config.intro_channel_id is not None
    newcomer = s.create_user("Lucía")
    await s.add_member(course.guild_id, newcomer)

    def welcome() -> dict[str, object] | None:
        for message in s.messages(config.intro_channel_id or 0):
            if f"<@{newcomer}>" in str(message.get("content")):
                return message
        return None

    await s.wait_for(lambda: welcome() is not None)
    message = welcome()
    assert message is not None
    ids = [c["custom_id"] for row in message["components"] for c in row["components"]]  # type: ignore[index]
    assert ids == [f"cohortbot:intro:write:{newcomer}", "cohortbot:roster:join"]
    opened = await click(course, message, newcomer, "cohortbot:roster:join")  # type: ignore[arg-type]
    assert opened.modal is not None
    submitted = await s.submit_modal(
        opened, newcomer, {"cohortbot:roster:join:code": codes["40513"]}
    )
    await submitted.wait_final()
    assert "Welcome, Lucía García" in submitted.text(), submitted.text()


async def test_instructor_links_and_unlinks_by_hand(course: Course) -> None:
    await course.setup_course()
    await import_and_apply(course, "grades.csv", sample("canvas_gradebook.csv"))
    w, s = course.world, course.sandbox
    student = w.student_ids[0]
    choices = await s.autocomplete(
        course.guild_id,
        w.general_channel_id,
        w.instructor_id,
        "course roster link",
        {"member": student, "student": "bao"},
        "student",
    )
    assert [c["name"] for c in choices] == ["Bao Nguyen (not linked)"]
    entry = choices[0]["value"]
    # A student sees nothing of the roster, even if an admin opened /course to everyone.
    s.allow_command_for_everyone(course.guild_id, "course")
    hidden = await s.autocomplete(
        course.guild_id,
        w.general_channel_id,
        student,
        "course roster link",
        {"member": student, "student": ""},
        "student",
    )
    assert hidden == []
    await make_lead(course)  # staff, but not an instructor: no roster either
    hidden = await s.autocomplete(
        course.guild_id,
        w.general_channel_id,
        w.lead_id,
        "course roster link",
        {"member": student, "student": ""},
        "student",
    )
    assert hidden == []
    record = await course.slash(
        w.instructor_id, "course roster link", {"member": student, "student": entry}
    )
    assert "now linked to Bao Nguyen" in record.text(), record.text()
    other = (await roster(course))["40511"].entry_id  # type: ignore[attr-defined]
    refused = await course.slash(
        w.instructor_id, "course roster link", {"member": student, "student": str(other)}
    )
    assert "already linked to Bao Nguyen" in refused.text(), refused.text()
    record = await course.slash(w.instructor_id, "course roster unlink", {"student": entry})
    assert "no longer linked" in record.text(), record.text()
    assert (await roster(course))["40512"].user_id is None  # type: ignore[attr-defined]
    status = await course.slash(w.instructor_id, "course status")
    assert "Cohort 1: 0 of 3 (0%)" in status.text(), status.text()
    codes = await course.slash(w.instructor_id, "course roster codes")
    assert len(attached_csv(codes)) == 4


async def test_a_ten_thousand_row_roster_is_summarised_within_one_message(course: Course) -> None:
    await course.setup_course()
    rows = "\n".join(f"Student {i},s{i}@example.edu,ID{i},Cohort 1" for i in range(10_000))
    data = f"name,email,student_id,section\n{rows}\n".encode()
    preview = await import_file(course, "big.csv", data)
    text = preview.text()
    assert "New students: 10000" in text, text[:500]
    assert "Student 9999" not in text  # summarised, not listed
    assert all(len(str(r.get("content") or "")) <= 2000 for r in preview.responses)
    assert await roster(course) == {}  # nothing stored before Apply


async def test_a_student_in_two_cohorts_sections_is_rejected_with_the_reason(
    course: Course,
) -> None:
    await course.setup_course()
    s, w = course.sandbox, course.world
    role = s.create_role(course.guild_id, "Evening")
    added = await course.slash(
        w.instructor_id, "course cohort add", {"name": "Evening Section", "role": role}
    )
    assert "Evening Section" in added.text(), added.text()
    preview = await import_file(course, "moodle.csv", sample("moodle_participants_utf16.csv"))
    assert "row 4" in preview.text() and "two sections" in preview.text(), preview.text()
    await import_and_apply(course, "moodle.csv", sample("moodle_participants_utf16.csv"))
    assert "S1005" not in await roster(course)  # not guessed: left for the instructor to fix
