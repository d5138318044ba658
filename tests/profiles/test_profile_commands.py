"""Profiles and /classmates through the real client: fixed choices, visibility per item,
finding classmates, and that a private item never reaches anyone else."""

from __future__ import annotations

from datetime import timedelta

from cogs.introductions import IntroService
from cogs.profiles import ProfileService
from sandbox.interactions import message_texts
from tests.support.course import Course, app_of
from tests.support.intros import join, write_intro


async def test_profile_set_with_mixed_visibility_and_show_says_who_sees_what(
    course: Course,
) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    saved = await course.slash(
        student,
        "profile set",
        {"work": "full_time", "timezone": "America/Chicago", "visibility": "classmates"},
    )
    assert saved.ephemeral
    assert "working full-time** — seen by you, your matches, and classmates" in saved.text()
    await course.slash(student, "profile set", {"caregiving": "young_children"})
    await course.slash(student, "profile set", {"first_in_family": "yes", "visibility": "matches"})
    await course.slash(student, "profile set", {"prior_courses": "prefer_not_to_say"})
    shown = await course.slash(student, "profile show")
    assert shown.ephemeral
    text = shown.text()
    assert "caring for young children** — seen by only you (used for matching" in text
    assert (
        "first in my family at college** — seen by you and the classmates you are matched" in text
    )
    assert "**America/Chicago** — seen by you, your matches, and classmates" in text
    assert "prefer not to say" in text
    assert "Usual availability\nnot set" in text

    profile = await app_of(course).services.get(ProfileService).get(course.guild_id, student)
    assert profile is not None
    assert profile.value("work") == "full_time" and profile.visibility("work") == "classmates"
    assert profile.visibility("caregiving") == "private"
    assert profile.matchable("prior_courses") is None  # "prefer not to say" is never used
    assert profile.value("prior_courses") == "prefer_not_to_say"
    # Setting a value again without visibility keeps who sees it.
    await course.slash(student, "profile set", {"work": "part_time"})
    again = await app_of(course).services.get(ProfileService).get(course.guild_id, student)
    assert again is not None and again.visibility("work") == "classmates"


async def test_invalid_timezone_is_refused_and_the_old_value_kept(course: Course) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    await course.slash(student, "profile set", {"timezone": "Europe/Berlin"})
    for bad in ("EST", "Mars/Olympus", "US/Eastern"):
        refused = await course.slash(student, "profile set", {"timezone": bad, "work": "full_time"})
        assert "isn't a time zone" in refused.text() and refused.ephemeral
    profile = await app_of(course).services.get(ProfileService).get(course.guild_id, student)
    assert profile is not None and profile.value("timezone") == "Europe/Berlin"
    assert profile.value("work") is None  # nothing of a refused command was saved
    choices = await course.sandbox.autocomplete(
        course.guild_id,
        course.world.general_channel_id,
        student,
        "profile set",
        {"timezone": "berl"},
        focused="timezone",
    )
    values = [c["value"] for c in choices]
    assert values[0] == "prefer_not_to_say" and "Europe/Berlin" in values
    assert len(values) <= 25
    nothing = await course.slash(student, "profile set", {"visibility": "classmates"})
    assert "Pick at least one item" in nothing.text()


async def test_profile_clear_one_item_or_everything(course: Course) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    await course.slash(student, "profile set", {"work": "full_time", "wants": "social"})
    cleared = await course.slash(student, "profile clear", {"item": "work"})
    assert "Removed work" in cleared.text()
    profile = await app_of(course).services.get(ProfileService).get(course.guild_id, student)
    assert profile is not None and profile.value("work") is None
    assert profile.value("wants") == "social"
    everything = await course.slash(student, "profile clear")
    assert "cleared" in everything.text()
    assert await app_of(course).services.get(ProfileService).get(course.guild_id, student) is None


async def test_classmates_lists_only_who_chose_to_be_findable_with_intro_links(
    course: Course,
) -> None:
    await course.setup_course()
    me, findable, shown_to_matches, private, other = course.world.student_ids[:5]
    await course.slash(me, "profile set", {"work": "full_time", "caregiving": "young_children"})
    await course.slash(
        findable,
        "profile set",
        {"work": "full_time", "caregiving": "young_children", "visibility": "classmates"},
    )
    await course.slash(
        shown_to_matches, "profile set", {"work": "full_time", "visibility": "matches"}
    )
    await course.slash(
        private, "profile set", {"work": "full_time", "caregiving": "young_children"}
    )
    await course.slash(other, "profile set", {"work": "part_time", "visibility": "classmates"})
    await write_intro(course, findable, {"call_me": "Ben"})
    intro = await app_of(course).services.get(IntroService).get(course.guild_id, findable)
    assert intro is not None and intro.jump_url

    names = course.world.names
    by_work = await course.slash(me, "classmates", {"circumstance": "work:full_time"})
    text = by_work.text()
    assert by_work.ephemeral
    assert names[findable] in text and intro.jump_url in text
    for hidden in (shown_to_matches, private, other):
        assert names[hidden] not in text

    common = await course.slash(me, "classmates")
    text = common.text()
    assert f"{names[findable]} — working full-time, caring for young children" in text
    assert names[private] not in text and names[shown_to_matches] not in text

    nobody = await course.slash(me, "classmates", {"circumstance": "wants:study_buddy"})
    assert "Nobody yet" in nobody.text()
    no_zone = await course.slash(me, "classmates", {"circumstance": "same_timezone"})
    assert "Set your own time zone first" in no_zone.text()


async def test_a_private_item_never_reaches_anyone_else(course: Course) -> None:
    """Alice keeps "caring for young children" private: no message, list, answer or export
    anyone else can see ever contains it, and it never ranks her in /classmates."""
    await course.setup_course()
    app = app_of(course)
    gid = course.guild_id
    alice, bob, cara = course.world.student_ids[:3]
    await course.slash(alice, "profile set", {"caregiving": "young_children"})
    await course.slash(alice, "profile set", {"first_in_family": "yes", "visibility": "matches"})
    await course.slash(alice, "profile set", {"work": "full_time", "visibility": "classmates"})
    await course.slash(
        bob,
        "profile set",
        {"caregiving": "young_children", "first_in_family": "yes", "work": "part_time"},
    )
    await course.slash(bob, "profile set", {"wants": "social", "visibility": "classmates"})
    await write_intro(course, alice, {"call_me": "Alice", "balancing": "a job"})

    seen_by_others: list[str] = []
    for user, command, options in (
        (bob, "classmates", {}),
        (bob, "classmates", {"circumstance": "caregiving:young_children"}),
        (bob, "classmates", {"circumstance": "first_in_family:yes"}),
        (cara, "classmates", {"circumstance": "work:full_time"}),
        (bob, "intro show", {"member": alice}),
        (course.world.instructor_id, "course intro list", {}),
    ):
        record = await course.slash(user, command, options)
        text = record.text()
        if "circumstance" in options:
            # The heading repeats the caller's own question; the answer follows it.
            text = text.split("\n", 1)[1]
        seen_by_others.append(text)
    for channel in course.sandbox.channels_in(gid):
        for message in course.sandbox.messages(int(channel["id"])):
            seen_by_others.extend(message_texts(message))
    for user in course.world.student_ids:
        for message in course.sandbox.dm_messages(user):
            seen_by_others.extend(message_texts(message))
    for user in (bob, cara, course.world.instructor_id):
        for repo in app.personal_data.personal():
            exported = str(await repo.export_user(gid, user))
            assert str(alice) not in exported  # nobody's export holds a row about Alice
            if user != bob:  # Bob's own export rightly holds his own young children
                seen_by_others.append(exported)
    # Suggestions a newcomer would get list only findable items too.
    bot = course.runner.bot
    assert bot is not None
    guild = bot.get_guild(gid)
    assert guild is not None
    seen_by_others.extend(
        await app.services.get(IntroService).suggestion_lines(guild, bob, [alice, cara])
    )

    everything = "\n".join(seen_by_others)
    assert "young children" not in everything and "young_children" not in everything
    assert "first in my family" not in everything
    # Alice is findable only by what she chose: work, full-time.
    assert course.world.names[alice] in seen_by_others[3]
    assert course.world.names[alice] not in seen_by_others[1]
    assert course.world.names[alice] not in seen_by_others[2]
    # Bob shares her private circumstances but nothing she made findable: not listed at all.
    assert course.world.names[alice] not in seen_by_others[0]


async def test_newcomer_nobody_welcomed_gets_up_to_three_findable_classmates(
    course: Course,
) -> None:
    await course.setup_course()
    app = app_of(course)
    gid = course.guild_id
    students = course.world.student_ids
    for classmate in students[:4]:
        await course.slash(
            classmate, "profile set", {"work": "full_time", "visibility": "classmates"}
        )
    await course.slash(students[4], "profile set", {"work": "full_time"})  # private
    newcomer = await join(course, "New Nora")
    await course.sandbox.wait_for(
        lambda: (
            (bot := course.runner.bot) is not None
            and (g := bot.get_guild(gid)) is not None
            and g.get_member(newcomer) is not None
        )
    )
    await course.slash(newcomer, "profile set", {"work": "full_time"})
    await write_intro(course, newcomer, {"call_me": "Nora"})
    bot = course.runner.bot
    assert bot is not None
    guild = bot.get_guild(gid)
    assert guild is not None
    cohort = await app.guild_settings.resolve_cohort(gid, None)
    start = course.clock.now()
    assert (
        await app.services.get(IntroService).suggestion_candidates(
            guild, cohort, start + timedelta(hours=2)
        )
        == []
    )
    later = start + timedelta(hours=25)
    (candidate,) = await app.services.get(IntroService).suggestion_candidates(guild, cohort, later)
    assert candidate.user_id == newcomer
    lines = candidate.values["classmates"].splitlines()
    assert len(lines) == 3
    assert all("working full-time" in line for line in lines)
    assert course.world.names[students[4]] not in candidate.values["classmates"]
    # Once sent, never again.
    await app.services.get(IntroService).record_nudge_sent(gid, newcomer, "suggestions")
    assert await app.services.get(IntroService).suggestion_candidates(guild, cohort, later) == []
    # /classmates shows the newcomer the same people (and more) at any time.
    shown = await course.slash(newcomer, "classmates")
    assert all(course.world.names[s] in shown.text() for s in students[:4])
