"""Alumni mentors through the real client: the offer at close-term, /mentor find ranking only on
what mentors show, request → accept → private thread, decline, expiry, capacity, the weekly
cap, a mentor who leaves, and forged buttons."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import UserFacingError
from cogs.mentors import MentorService
from cogs.profiles import ProfileService
from tests.support.coffee_chats import component_ids
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
    submit_offer,
    two_cohorts,
)


async def test_the_close_term_thank_you_offers_mentoring(course: Course) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    coffee = s.find_channel(course.guild_id, "coffee-shop")
    assert coffee is not None
    [thanks] = [m for m in s.messages(coffee) if "That's a wrap" in str(m["content"])]
    assert "be a mentor for the next cohort" in str(thanks["content"])
    ids = component_ids(thanks)
    assert ids[0].startswith("cohortbot:term:kit:")  # keep in touch stays first
    offer_id = f"cohortbot:mentors:offer:{c.first.cohort_id}"
    assert offer_id in ids

    alumna = c.alumni[0]
    await set_profile(course, alumna, {"work": "full_time", "caregiving": "young_children"})
    opened = await s.click_button(coffee, int(thanks["id"]), alumna, offer_id)
    await opened.wait_response()
    done = await submit_offer(
        opened,
        course,
        alumna,
        areas=("assignments", "work_family"),
        capacity="2",
        items=("work",),
        note="Ask me about the group project",
    )
    assert "Thank you for offering to mentor" in done.text(), done.text()
    stored = await app.services.get(MentorService).store.offer(course.guild_id, alumna)
    assert stored is not None and stored.capacity == 2 and stored.shown_items == ("work",)
    assert stored.shown_values == {"work": "full_time"}

    # A student of the running cohort can't offer; staff neither.
    refused = await course.slash(c.students[0], "mentor offer")
    assert "students who finished a cohort" in refused.text()
    assert await app.services.get(MentorService).store.offer(course.guild_id, c.students[0]) is None


async def test_the_alumni_role_is_given_and_bad_offers_change_nothing(course: Course) -> None:
    c = await two_cohorts(course)
    role = course.sandbox.create_role(course.guild_id, "Alumni")
    await course.slash(course.world.instructor_id, "course mentors settings", {"alumni_role": role})
    alumna = c.alumni[0]
    bad = await offer(course, alumna, areas=(), note="", capacity="2")
    assert "Pick at least one" in bad.text()
    store = app_of(course).services.get(MentorService).store
    assert await store.offer(course.guild_id, alumna) is None
    await offer(course, alumna)
    member = guild_of(course).get_member(alumna)
    assert member is not None and role in [r.id for r in member.roles]


async def test_find_ranks_only_on_items_mentors_show(course: Course) -> None:
    c = await two_cohorts(course)
    student = c.students[0]
    a, b = c.alumni[:2]
    await set_profile(course, student, {"work": "full_time", "caregiving": "young_children"})
    profiles = app_of(course).services.get(ProfileService)
    for attribute in ("work", "caregiving"):  # the matcher scores these only when asked for
        await profiles.set_preference(course.guild_id, student, attribute, "similar")  # type: ignore[arg-type]
    # a shares work with the student but keeps it PRIVATE (not shown to mentees); b shows a
    # weaker overlap. Were a's private item used, a would rank first.
    await set_profile(course, a, {"work": "full_time", "caregiving": "young_children"})
    await set_profile(course, b, {"caregiving": "young_children"})
    await offer(course, a, items=())
    await offer(course, b, items=("caregiving",))
    _, message = await find(course, student)
    assert message is not None
    assert ask_targets(message) == [b, a]
    assert "young children" in str(message["content"])
    assert "full-time" not in str(message["content"])

    # With a's items shown, a ranks first.
    await offer(course, a, items=("work", "caregiving"))
    _, message = await find(course, student)
    assert message is not None and ask_targets(message)[0] == a


async def test_ask_accept_opens_a_private_thread(course: Course) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    mentor, student = c.alumni[0], c.students[0]
    await offer(course, mentor)
    _, message = await find(course, student)
    assert message is not None
    asked = await ask(course, message, student)
    assert "Request sent" in asked.text(), asked.text()
    await app.outbox.drain()
    dm = request_dm(course, mentor)
    assert "would like you as their mentor" in str(dm["content"])

    # A forged Accept (someone else's, or a request id that doesn't exist) is refused.
    service = app.services.get(MentorService)
    [request] = await service.pending_for_mentor(course.guild_id, mentor)
    for who, request_id in ((c.alumni[1], request.request_id), (mentor, request.request_id + 99)):
        with pytest.raises(UserFacingError, match="no longer open"):
            await service.answer(guild_of(course), request_id, who, True)
    assert (await service.pending_for_mentor(course.guild_id, mentor)) == [request]

    done = await answer(course, dm, mentor, "Accept")
    assert "Accepted" in done.text(), done.text()
    await app.outbox.drain()
    [thread] = [t for t in s.threads_in(course.guild_id) if t["name"].startswith("Mentor chat")]
    assert thread["type"] == 12 and thread["thread_metadata"]["invitable"] is False
    assert set(s.thread_members(int(thread["id"]))) >= {mentor, student}
    [guide] = s.messages(int(thread["id"]))
    assert "A short guide" in str(guide["content"])
    assert any(":mentors:report:" in cid for cid in component_ids(guide))

    # A second click (or a replay) changes nothing.
    again = await answer(course, dm, mentor, "Accept")
    assert "no longer open" in again.text()

    # Report to staff goes through the coffee chats' report path.
    report = await s.click_button(
        int(thread["id"]),
        int(guide["id"]),
        student,
        next(cid for cid in component_ids(guide) if ":mentors:report:" in cid),
    )
    await report.wait_final()
    assert "report" in report.text().lower()

    # Already having a mentor: offered to change, kindly.
    record, _ = await find(course, student)
    assert "You already have a mentor" in record.text()


async def test_decline_is_private_and_offers_the_next(course: Course) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    a, b = c.alumni[:2]
    student = c.students[0]
    await offer(course, a)
    await offer(course, b)
    _, message = await find(course, student)
    assert message is not None
    first = ask_targets(message)[0]
    await ask(course, message, student)
    await app.outbox.drain()
    declined = await answer(course, request_dm(course, first), first, "Decline")
    assert "Declined privately" in declined.text()
    await app.outbox.drain()
    note = s.dm_messages(student)[-1]
    assert "busy this term" in str(note["content"])
    assert "reject" not in str(note["content"]).lower()
    other = b if first == a else a
    assert ask_targets(note) == [other]
    # Nothing about it in public.
    general = s.messages(course.world.general_channel_id)
    assert not any("busy this term" in str(m.get("content")) for m in general)


async def test_unanswered_requests_expire_after_a_week(course: Course) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    a, b = c.alumni[:2]
    student = c.students[0]
    await offer(course, a)
    await offer(course, b)
    _, message = await find(course, student)
    assert message is not None
    first = ask_targets(message)[0]
    await ask(course, message, student)
    service = app.services.get(MentorService)
    assert await service.expire_due(course.clock.now() + timedelta(days=6)) == 0
    course.clock.advance(timedelta(days=7, minutes=1))
    await app.scheduler.run_tick_hooks()
    await app.outbox.drain()
    note = s.dm_messages(student)[-1]
    assert "didn't get an answer within a week" in str(note["content"])
    assert first not in ask_targets(note) and ask_targets(note)
    # The expired request's Accept is refused.
    late = await answer(course, request_dm(course, first), first, "Accept")
    assert "no longer open" in late.text()


async def test_capacity_and_the_weekly_cap(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    mentor = c.alumni[0]
    await offer(course, mentor, capacity="1")
    s1, s2, s3 = c.students
    _, m1 = await find(course, s1)
    _, m2 = await find(course, s2)
    assert m1 is not None and m2 is not None
    assert "Request sent" in (await ask(course, m1, s1)).text()
    # Capacity reached between the suggestion and the request: told, nothing sent.
    other = c.alumni[1]
    await offer(course, other)
    late = await ask(course, m2, s2)
    assert "just filled their places" in late.text()
    # ... and offered the next one, with its button.
    offered = course.sandbox.ephemeral_messages(s2)[-1]
    assert ask_targets(offered) == [other]
    assert await app.services.get(MentorService).store.open_of_student(course.guild_id, s2) == []
    await app.services.get(MentorService).stop(guild_of(course), other)

    # The weekly cap: with room for 3 but a cap of 1, a second ask in the week is refused.
    await course.slash(
        course.world.instructor_id, "course mentors settings", {"requests_per_week": 1}
    )
    await offer(course, mentor, capacity="3")
    _, m3 = await find(course, s3)
    assert m3 is None  # at the cap: not suggested


async def test_a_mentor_who_leaves_cancels_requests_and_students_are_reoffered(
    course: Course,
) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    a, b = c.alumni[:2]
    student = c.students[0]
    await offer(course, a)
    await offer(course, b)
    _, message = await find(course, student)
    assert message is not None
    first = ask_targets(message)[0]
    await ask(course, message, student)
    await s.remove_member(course.guild_id, first)
    # The departure is a gateway event the bot handles on its own time (slower on PostgreSQL):
    # wait for the note it ends with, not just for commands to settle.
    await s.wait_for(
        lambda: any("no longer available" in str(m["content"]) for m in s.dm_messages(student))
    )
    store = app.services.get(MentorService).store
    assert await store.open_of_student(course.guild_id, student) == []
    note = s.dm_messages(student)[-1]
    assert "no longer available" in str(note["content"])
    assert ask_targets(note) == [b if first == a else a]


async def test_self_mentoring_and_other_servers_alumni(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    student = c.students[0]
    # An alumnus of another server, stored directly: never visible here.
    await app.services.get(MentorService).store.save_offer(
        guild_id=course.guild_id + 1,
        user_id=c.alumni[2],
        cohort_id=1,
        help_areas=("assignments",),
        help_note="",
        capacity=3,
        shown_values={},
        now=course.clock.now(),
    )
    record, message = await find(course, student)
    assert message is None and "No alumni have free places" in record.text()
    # Asking yourself (a forged Ask button) is refused.
    service = app.services.get(MentorService)
    member = guild_of(course).get_member(student)
    assert member is not None
    with pytest.raises(UserFacingError, match="your own mentor"):
        await service.ask(guild_of(course), member, student)


async def test_closed_dms_fall_back_privately(course: Course) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    mentor, student = c.alumni[0], c.students[0]
    await offer(course, mentor)
    await app.outbox.dm_channels.mark_dm_closed(course.guild_id, mentor, now=course.clock.now())
    _, message = await find(course, student)
    assert message is not None
    asked = await ask(course, message, student)
    assert "DMs are closed" in asked.text()
    pending = await course.slash(mentor, "mentor requests")
    assert pending.ephemeral and "would like you as their mentor" in pending.text()
    general = s.messages(course.world.general_channel_id)
    assert not any("mentor" in str(m.get("content")).lower() for m in general)


async def test_dms_found_closed_only_when_sending_tell_the_student(course: Course) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    mentor, student = c.alumni[0], c.students[0]
    await offer(course, mentor)
    s.close_dms(mentor)  # not known yet: the ask thinks the DM will go
    _, message = await find(course, student)
    assert message is not None
    asked = await ask(course, message, student)
    assert "You'll hear back by DM" in asked.text(), asked.text()
    await app.outbox.drain()
    await app.outbox.drain()  # the student's note, queued when the request failed
    notes = [str(m.get("content")) for m in s.dm_messages(student)]
    assert any("couldn't deliver it by DM" in n for n in notes), notes
    # /mentor find says so too (for a student whose own DMs are closed as well).
    again, _ = await find(course, student)
    assert "waits for them in /mentor requests" in again.text(), again.text()
    # The request still waits for the mentor, privately.
    pending = await course.slash(mentor, "mentor requests")
    assert pending.ephemeral and "would like you as their mentor" in pending.text()
    general = s.messages(course.world.general_channel_id)
    assert not any("mentor" in str(m.get("content")).lower() for m in general)


async def test_dms_marked_closed_after_the_ask_tell_the_student_too(course: Course) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    mentor, student = c.alumni[0], c.students[0]
    await offer(course, mentor)
    assert app.outbox.sender is not None
    await app.outbox.sender.stop()  # the request stays queued
    _, message = await find(course, student)
    assert message is not None
    asked = await ask(course, message, student)
    assert "You'll hear back by DM" in asked.text(), asked.text()
    # Another DM found the mentor's closed meanwhile: the sender skips the request.
    await app.outbox.dm_channels.mark_dm_closed(course.guild_id, mentor, now=course.clock.now())
    await course.restart_bot()
    app = app_of(course)
    await app.outbox.drain()
    await app.outbox.drain()
    notes = [str(m.get("content")) for m in s.dm_messages(student)]
    assert any("couldn't deliver it by DM" in n for n in notes), notes
    assert not any(":mentors:accept:" in str(m) for m in s.dm_messages(mentor))


async def test_pause_and_stop(course: Course) -> None:
    c = await two_cohorts(course)
    app = app_of(course)
    mentor, student = c.alumni[0], c.students[0]
    await offer(course, mentor)
    assert "Paused" in (await course.slash(mentor, "mentor pause")).text()
    _, message = await find(course, student)
    assert message is None
    await offer(course, mentor)
    _, message = await find(course, student)
    assert message is not None
    await ask(course, message, student)
    stopped = await course.slash(mentor, "mentor stop")
    assert "stopped mentoring" in stopped.text()
    store = app.services.get(MentorService).store
    assert await store.open_of_mentor(course.guild_id, mentor) == []
    assert await store.offer(course.guild_id, mentor) is None


async def test_a_student_marked_completed_may_offer(course: Course) -> None:
    c = await two_cohorts(course, close=False)
    finished = c.students[0]  # cohort 2 still runs
    refused = await course.slash(finished, "mentor offer")
    assert "students who finished a cohort" in refused.text()
    await course.slash(course.world.instructor_id, "course coffee completed", {"member": finished})
    done = await offer(course, finished)
    assert "Thank you for offering to mentor" in done.text(), done.text()


async def test_mentors_can_be_turned_off_for_a_cohort(course: Course) -> None:
    c = await two_cohorts(course)
    await offer(course, c.alumni[0])
    done = await course.slash(
        course.world.instructor_id,
        "course mentors settings",
        {"enabled": False, "cohort": "Cohort 2"},
    )
    assert "Mentors for **Cohort 2**: off" in done.text(), done.text()
    record, message = await find(course, c.students[0])
    assert message is None and "aren't open for your cohort" in record.text()


async def test_a_student_with_closed_dms_hears_of_a_decline_privately_in_find(
    course: Course,
) -> None:
    c = await two_cohorts(course)
    s, app = course.sandbox, app_of(course)
    mentor, student = c.alumni[0], c.students[0]
    await offer(course, mentor)
    _, message = await find(course, student)
    assert message is not None
    await ask(course, message, student)
    await app.outbox.drain()
    await app.outbox.dm_channels.mark_dm_closed(course.guild_id, student, now=course.clock.now())
    await answer(course, request_dm(course, mentor), mentor, "Decline")
    record, _ = await find(course, student)
    assert record.ephemeral and "busy this term" in record.text()
    public = s.messages(course.world.general_channel_id)
    assert not any("busy this term" in str(m.get("content")) for m in public)
