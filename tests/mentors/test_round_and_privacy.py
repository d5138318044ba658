"""Instructors' mentor round (preview, "Post these", capacities and blocks), the list, and the
data contract: export, erasure by either side of a pair, and retention keeping a mentor's
consented offer."""

from __future__ import annotations

from datetime import timedelta

from cogs.coffee_chats import MatchingService
from cogs.digest import DigestService
from cogs.digest.render import parse_csv
from cogs.mentors import MentorService
from cogs.privacy import PrivacyService
from tests.support.coffee_chats import button, click, last_ephemeral
from tests.support.course import Course, app_of
from tests.support.mentors import (
    answer,
    ask,
    ask_targets,
    find,
    guild_of,
    offer,
    request_dm,
    set_profile,
    two_cohorts,
)
from tests.support.privacy import asked_button


async def test_the_round_assigns_waiting_students_within_capacities_and_blocks(
    course: Course,
) -> None:
    c = await two_cohorts(course)
    s, app, instructor = course.sandbox, app_of(course), course.world.instructor_id
    a, b = c.alumni[:2]
    s1 = c.students[0]
    await offer(course, a, capacity="2")
    await offer(course, b, capacity="1")
    for student in c.students:  # each asks for a mentor (and so waits)
        await find(course, student)
    await course.slash(instructor, "course match block", {"a": s1, "b": a})
    record = await course.slash(instructor, "course mentors round", {"cohort": "Cohort 2"})
    assert "Mentor round preview" in record.text(), record.text()
    preview = last_ephemeral(course, instructor, "Post these")
    posted = await click(course, preview, instructor, button(preview, "Post these"))
    assert "Posted 3 mentor pairs" in posted.text(), posted.text()
    pairs = await app.services.get(MentorService).store.pairs(course.guild_id)
    got = {(p.student_id, p.mentor_id) for p in pairs}
    assert (s1, b) in got and len(got) == 3
    assert sum(1 for _, m in got if m == a) == 2
    await app.outbox.drain()
    threads = [t for t in s.threads_in(course.guild_id) if t["name"].startswith("Mentor chat")]
    assert len(threads) == 3
    listed = await course.slash(instructor, "course mentors list")
    assert "Open pairs: 3" in listed.text() and "waiting for a mentor: 0" in listed.text()
    # Nobody left to pair.
    again = await course.slash(instructor, "course mentors round", {"cohort": "Cohort 2"})
    assert "No students of this cohort are waiting" in again.text()


async def pair_of(course: Course, mentor: int, student: int) -> None:
    await offer(course, mentor, items=("work",))
    _, message = await find(course, student)
    assert message is not None
    await ask(course, message, student)
    await app_of(course).outbox.drain()
    await answer(course, request_dm(course, mentor), mentor, "Accept")


async def test_export_and_erasure_by_either_side_keep_the_others_records(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    privacy = app.services.get(PrivacyService)
    store = app.services.get(MentorService).store
    mentor, student = c.alumni[0], c.students[0]
    await set_profile(course, mentor, {"work": "full_time"})
    await pair_of(course, mentor, student)
    exported = await privacy.export_user(course.guild_id, mentor)
    assert exported["tables"]["mentor_offers"][0]["help_areas"] == "what_to_expect"
    assert exported["tables"]["mentor_requests"][0]["role"] == "mentor"

    [thread] = [
        t for t in course.sandbox.threads_in(course.guild_id) if t["name"].startswith("Mentor")
    ]
    asked = await course.slash(student, "privacy delete")
    done = await course.sandbox.click_button(
        course.world.general_channel_id,
        asked.responses[0]["message_id"],
        student,
        asked_button(asked, "Yes"),
    )
    await course.sandbox.wait_for(lambda: "erased" in done.text())
    assert await store.open_of_mentor(course.guild_id, mentor) == []  # the pair is closed
    assert course.sandbox.channel(int(thread["id"]))["name"] == "Mentor chat"  # no names
    left = (await privacy.export_user(course.guild_id, mentor))["tables"]["mentor_requests"]
    assert [r["state"] for r in left] == ["ended"]  # the mentor's record stays, intact
    assert await store.offer(course.guild_id, mentor) is not None
    gone = await privacy.export_user(course.guild_id, student)
    assert not any(gone["tables"].get(t) for t in store.personal_tables)

    # And the other way round: the mentor erases; the student's record stays.
    other = c.students[1]
    await pair_of(course, mentor, other)
    await privacy.delete_user(course.guild_id, mentor)
    assert await store.offer(course.guild_id, mentor) is None
    kept = (await privacy.export_user(course.guild_id, other))["tables"]["mentor_requests"]
    assert [r["state"] for r in kept] == ["ended"]
    assert await store.open_of_student(course.guild_id, other) == []


async def test_retention_keeps_only_a_mentors_consented_offer(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    store = app.services.get(MentorService).store
    mentor, quiet = c.alumni[:2]
    await set_profile(course, mentor, {"work": "full_time", "caregiving": "young_children"})
    await set_profile(course, quiet, {"work": "part_time"})
    await offer(course, mentor, items=("work",))
    privacy = app.services.get(PrivacyService)
    later = course.clock.now() + privacy.retention + timedelta(days=1)
    _, people = await privacy.purge_due(later)
    assert people >= 3
    kept = await store.offer(course.guild_id, mentor)
    assert kept is not None and kept.shown_values == {"work": "full_time"}
    exported = await privacy.export_user(course.guild_id, mentor)
    assert exported["tables"].get("profile_attributes", []) == []  # the rest of theirs is gone
    quiet_data = (await privacy.export_user(course.guild_id, quiet))["tables"]
    assert not quiet_data.get("profile_attributes")
    # Still suggested on the kept item alone.
    _, message = await find(course, c.students[0])
    assert message is not None and "working full-time" not in str(message["content"])
    suggestions = await app.services.get(MentorService).suggest(guild_of(course), c.students[0])
    assert [s.mentor_id for s in suggestions] == [mentor]
    # Stopping removes it.
    await course.slash(mentor, "mentor stop")
    assert await store.offer(course.guild_id, mentor) is None
    assert app.services.get(MatchingService) is not None


async def test_the_digest_counts_mentor_pairs_and_the_csv_says_who_has_one(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    mentor, student, waiting = c.alumni[0], c.students[0], c.students[1]
    await set_profile(course, mentor, {"work": "full_time"})
    await pair_of(course, mentor, student)
    await find(course, waiting)  # waits: no free place left
    built = await app.services.get(DigestService).build(
        guild_of(course), c.second, course.clock.now() + timedelta(minutes=1)
    )
    fields = [f for m in built.messages for e in m.embeds for f in e.fields]
    assert ("Mentor pairs", "1 active, 1 new; 1 students waiting") in [
        (f.name, f.value) for f in fields
    ]
    rows = {int(r["user_id"]): r for r in parse_csv(built.csv)}
    assert rows[student]["has_mentor"] == "yes"
    assert rows[waiting]["has_mentor"] == "no"


async def test_privacy_info_says_a_mentors_offer_is_kept(course: Course) -> None:
    await course.setup_course()
    record = await course.slash(course.world.student_ids[0], "privacy info")
    assert "offer and items shown to mentees stay until `/mentor stop`" in record.text()


def dm_texts(course: Course, user: int) -> list[str]:
    return [str(m.get("content")) for m in course.sandbox.dm_messages(user)]


async def test_a_mentor_is_told_kindly_when_the_student_finds_another(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    mentor, student = c.alumni[0], c.students[0]
    await pair_of(course, mentor, student)
    await course.slash(student, "mentor find")
    shown = last_ephemeral(course, student, "Find another mentor")
    changed = await click(course, shown, student, button(shown, "Find another mentor"))
    assert "Your mentor pairing was closed" in changed.text(), changed.text()
    await app.outbox.drain()
    [note] = [t for t in dm_texts(course, mentor) if "look for another mentor" in t]
    assert "says nothing about you" in note and "free again" in note
    store = app.services.get(MentorService).store
    assert await store.open_of_mentor(course.guild_id, mentor) == []
    # Nothing about it in public.
    general = course.sandbox.messages(course.world.general_channel_id)
    assert not any("another mentor" in str(m.get("content")) for m in general)


async def test_a_mentor_is_told_without_a_name_when_the_student_is_erased(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    privacy = app.services.get(PrivacyService)
    mentor, student = c.alumni[0], c.students[0]
    await pair_of(course, mentor, student)
    name = guild_of(course).get_member(student).display_name  # type: ignore[union-attr]
    before = len(dm_texts(course, mentor))
    await privacy.delete_user(course.guild_id, student)
    await app.outbox.drain()
    new = dm_texts(course, mentor)[before:]
    assert len(new) == 1 and "data was erased" in new[0], new
    assert name not in new[0]

    # A request the mentor already has gets a note that it was withdrawn.
    third = c.students[2]
    _, message = await find(course, third)
    assert message is not None
    await ask(course, message, third, ask_targets(message).index(mentor) + 1)
    await app.outbox.drain()
    assert "would like you as their mentor" in dm_texts(course, mentor)[-1]
    before = len(dm_texts(course, mentor))
    await privacy.delete_user(course.guild_id, third)
    await app.outbox.drain()
    [withdrawn] = dm_texts(course, mentor)[before:]
    assert "has been withdrawn" in withdrawn

    # One still queued (it names the student) is taken back instead: the mentor never sees it.
    other, second = c.students[1], c.alumni[1]
    await offer(course, second)
    assert app.outbox.sender is not None
    await app.outbox.sender.stop()
    _, message = await find(course, other)
    assert message is not None
    await ask(course, message, other, ask_targets(message).index(second) + 1)
    service = app.services.get(MentorService)
    [pending] = await service.pending_for_mentor(course.guild_id, second)
    queued = await app.outbox.lookup(course.guild_id, "mentor:request", str(pending.request_id))
    assert queued is not None and queued.state == "pending"
    await privacy.delete_user(course.guild_id, other)
    cancelled = await app.outbox.get(course.guild_id, queued.id)
    assert cancelled is not None and cancelled.state == "cancelled"
    await course.restart_bot()
    await app_of(course).outbox.drain()
    assert dm_texts(course, second) == []
