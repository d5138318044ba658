"""/course setup and status through the real client: the checklist, timezones, cohorts, text
templates, who may configure, and settings that survive a restart."""

from __future__ import annotations

import discord

from bot.store.guilds import GuildConfig
from tests.support.course import Course, modal_input_ids


async def config_of(course: Course) -> GuildConfig | None:
    assert course.runner.app is not None
    return await course.runner.app.guild_configs.get(course.guild_id)


async def test_setup_with_create_missing_creates_channels_roles_and_shows_checklist(
    course: Course,
) -> None:
    record = await course.setup_course()
    final = record.text()
    assert "Setup saved" in final
    s, gid = course.sandbox, course.guild_id
    for name in ("introductions", "discussion", "coffee-shop", "cohort-leads"):
        assert s.find_channel(gid, name) is not None, name
    for name in ("Instructor", "Cohort Lead"):
        assert s.find_role(gid, name) is not None, name
    # The existing Student role was used, not duplicated.
    assert [r for r in s.roles_in(gid) if r["name"] == "Student"] != []
    assert len([r for r in s.roles_in(gid) if r["name"] == "Student"]) == 1
    config = await config_of(course)
    assert config is not None
    assert config.timezone == "America/New_York"
    assert config.intro_channel_id == s.find_channel(gid, "introductions")
    assert config.leads_channel_id == s.find_channel(gid, "cohort-leads")
    assert "Everything is ready" in final, final
    assert "Needs attention" not in final
    # The leads channel is private: students cannot see it.
    bot = course.runner.bot
    assert bot is not None
    guild = bot.get_guild(gid)
    assert guild is not None
    leads = guild.get_channel(config.leads_channel_id or 0)
    assert isinstance(leads, discord.TextChannel)
    student = guild.get_member(course.world.student_ids[0])
    assert student is not None
    assert not leads.permissions_for(student).view_channel
    assert all(r["ephemeral"] for r in record.responses if r["kind"] != "deferred")


async def test_status_shows_the_same_checklist(course: Course) -> None:
    await course.setup_course()
    record = await course.slash(course.world.instructor_id, "course status")
    assert "Everything is ready" in record.text()
    assert "Introductions channel" in record.text()


async def test_status_before_setup_points_to_setup(course: Course) -> None:
    record = await course.slash(course.world.instructor_id, "course status")
    assert "/course setup" in record.text()


async def test_channel_the_bot_cannot_post_in_is_red(course: Course) -> None:
    s, gid = course.sandbox, course.guild_id
    locked = s.create_channel(
        gid,
        "locked-intros",
        overwrites=[
            {"id": course.world.bot_role_id, "type": 0, "allow": "0", "deny": str(1 << 11)}
        ],
    )
    record = await course.slash(
        course.world.instructor_id,
        "course setup",
        {
            "introductions": locked,
            "timezone": "Europe/Berlin",
            "student_role": course.world.student_role_id,
        },
    )
    text = record.text()
    assert "Needs attention" in text
    assert "Send Messages" in text
    assert "locked-intros" in text


async def test_invalid_timezone_is_refused_and_old_value_kept(course: Course) -> None:
    await course.setup_course()
    for bad in ("EST", "US/Eastern", "Mars/Olympus"):
        record = await course.slash(course.world.instructor_id, "course setup", {"timezone": bad})
        assert "isn't a time zone" in record.text(), record.text()
        config = await config_of(course)
        assert config is not None and config.timezone == "America/New_York"


async def test_timezone_autocomplete_suggests_place_names(course: Course) -> None:
    choices = await course.sandbox.autocomplete(
        course.guild_id,
        course.world.general_channel_id,
        course.world.instructor_id,
        "course setup",
        {"timezone": "new york"},
        focused="timezone",
    )
    assert any(c["value"] == "America/New_York" for c in choices)
    assert len(choices) <= 25


async def test_student_is_refused_setup_even_when_defaults_were_changed(course: Course) -> None:
    await course.setup_course()
    before = await config_of(course)
    course.sandbox.allow_command_for_everyone(course.guild_id, "course")
    student = course.world.student_ids[0]
    channels_before = len(course.sandbox.channels_in(course.guild_id))
    record = await course.slash(
        student, "course setup", {"timezone": "Europe/Paris", "create_missing": True}
    )
    assert "for course staff" in record.text()
    assert all(r["ephemeral"] for r in record.responses)
    assert await config_of(course) == before
    assert len(course.sandbox.channels_in(course.guild_id)) == channels_before


async def test_instructor_role_can_use_course_commands(course: Course) -> None:
    await course.setup_course()
    role = course.sandbox.find_role(course.guild_id, "Instructor")
    assert role is not None
    helper = course.sandbox.create_user("Co-Instructor")
    await course.sandbox.add_member(course.guild_id, helper, roles=[role])
    await course.sandbox.wait_for(
        lambda: (
            course.runner.bot is not None
            and (g := course.runner.bot.get_guild(course.guild_id)) is not None
            and g.get_member(helper) is not None
        )
    )
    course.sandbox.allow_command_for_everyone(course.guild_id, "course")
    record = await course.slash(helper, "course status")
    assert "Everything is ready" in record.text()


async def test_second_cohort_added_listed_and_removed(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    section_b = s.create_role(gid, "Section B")
    section_b_leads = s.create_role(gid, "Section B TAs")
    await course.sandbox.wait_for(
        lambda: (
            course.runner.bot is not None
            and (g := course.runner.bot.get_guild(gid)) is not None
            and g.get_role(section_b_leads) is not None
        )
    )
    instructor = course.world.instructor_id
    record = await course.slash(
        instructor,
        "course cohort add",
        {"name": "Section B", "role": section_b, "lead_role": section_b_leads},
    )
    assert "Added cohort **Section B**" in record.text()
    duplicate = await course.slash(
        instructor, "course cohort add", {"name": "section b", "role": section_b}
    )
    assert "already a cohort" in duplicate.text()
    listing = (await course.slash(instructor, "course cohort list")).text()
    assert "Cohort 1" in listing and "Section B" in listing
    choices = await s.autocomplete(
        gid,
        course.world.general_channel_id,
        instructor,
        "course cohort remove",
        {"cohort": "sec"},
        focused="cohort",
    )
    assert [c["value"] for c in choices] == ["Section B"]
    removed = await course.slash(instructor, "course cohort remove", {"cohort": "Section B"})
    assert "Removed cohort **Section B**" in removed.text()
    only = await course.slash(instructor, "course cohort remove", {"cohort": "Cohort 1"})
    assert "only cohort" in only.text()


async def test_text_templates_edit_preview_reset(course: Course) -> None:
    await course.setup_course()
    instructor = course.world.instructor_id
    opened = await course.slash(instructor, "course text edit", {"key": "welcome"})
    assert opened.modal is not None
    bad = await course.sandbox.submit_modal(
        opened, instructor, {modal_input_ids(opened)[0]: "Hello {nobody}"}
    )
    await bad.wait_final()
    assert "Unknown placeholder" in bad.text()
    good = await course.sandbox.submit_modal(
        opened, instructor, {modal_input_ids(opened)[0]: "Hello {member}, welcome to {course}!"}
    )
    await good.wait_final()
    assert "Saved **welcome**" in good.text()
    preview = await course.slash(instructor, "course text preview", {"key": "welcome"})
    assert "Hello @New Student, welcome to Your Course!" in preview.text()
    listing = await course.slash(instructor, "course text list")
    # A long list continues in further private messages: wait for the whole of it.
    await course.sandbox.wait_for(lambda: "**welcome** (edited)" in listing.text())
    reset = await course.slash(instructor, "course text reset", {"key": "welcome"})
    assert "back to the default" in reset.text()
    unknown = await course.slash(instructor, "course text preview", {"key": "nope"})
    assert "no text called" in unknown.text()


async def test_settings_survive_a_restart(course: Course) -> None:
    await course.setup_course()
    await course.restart_bot()
    record = await course.slash(course.world.instructor_id, "course status")
    assert "Everything is ready" in record.text()


async def test_an_edited_text_is_what_the_next_command_shows(course: Course) -> None:
    """Texts are cached in memory: an edit and a reset are visible on the very next reply."""
    await course.setup_course()
    instructor = course.world.instructor_id
    student = course.world.student_ids[0]
    default = "feel like a community: introductions"
    assert default in (await course.slash(student, "help")).text()  # cached now
    opened = await course.slash(instructor, "course text edit", {"key": "help_intro"})
    saved = await course.sandbox.submit_modal(
        opened, instructor, {modal_input_ids(opened)[0]: "Welcome to {course}, edited!"}
    )
    await saved.wait_final()
    assert "Saved **help_intro**" in saved.text()
    edited = (await course.slash(student, "help")).text()
    assert "Welcome to Intro to Data Science, edited!" in edited and default not in edited
    reset = await course.slash(instructor, "course text reset", {"key": "help_intro"})
    assert "back to the default" in reset.text()
    assert default in (await course.slash(student, "help")).text()
