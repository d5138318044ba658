"""Introductions through the real client: welcome on join, /intro write|show, plain-message
intros, welcomes, deleted posts, the Introduced role, /course intro list|settings."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cogs.introductions import IntroService
from cogs.introductions.service import THANKS_EMOJI
from tests.support.course import Course, app_of, modal_input_ids
from tests.support.intros import (
    FULL_INTRO,
    intro_channel,
    join,
    posts_mentioning,
    stored_intro,
    wait_for_welcomes,
    write_intro,
)
from tests.support.waiting import eventually


def allowed_mentions(course: Course, message: dict[str, Any]) -> dict[str, Any]:
    """What the bot allowed to ping (the sandbox keeps it for assertions)."""
    return dict(course.sandbox.world.messages[int(message["id"])]["_allowed_mentions"] or {})


def pinged(course: Course, message: dict[str, Any]) -> set[int]:
    """Everyone the message actually notified (users; roles and @everyone as -1)."""
    found = {int(u["id"]) for u in message["mentions"]}
    if message["mention_everyone"] or message["mention_roles"]:
        found.add(-1)
    return found


async def test_welcome_on_join_pings_only_the_newcomer_with_a_button(course: Course) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    newcomer = await join(course, "Nia Newcomer")
    await course.sandbox.wait_for(lambda: bool(posts_mentioning(course, channel, newcomer)))
    (welcome,) = posts_mentioning(course, channel, newcomer)
    assert course.guild_id and "Intro to Data Science" in welcome["content"]
    assert pinged(course, welcome) == {newcomer}
    assert [int(u) for u in allowed_mentions(course, welcome)["users"]] == [newcomer]
    buttons = [c for row in welcome["components"] for c in row["components"]]
    assert [b["label"] for b in buttons] == ["Write my introduction"]
    assert buttons[0]["custom_id"] == f"cohortbot:intro:write:{newcomer}"


async def test_bots_and_staff_joining_get_no_welcome(course: Course) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    robot = s.create_user("Some Bot", bot=True)
    await s.add_member(course.guild_id, robot)
    instructor_role = s.find_role(course.guild_id, "Instructor")
    assert instructor_role is not None
    co_instructor = s.create_user("Dr. Staff")
    await s.add_member(course.guild_id, co_instructor, roles=[instructor_role])
    # Events are handled in order: once the next newcomer is welcomed, the others were seen.
    newcomer = await join(course, "Late Larry")
    await s.wait_for(lambda: bool(posts_mentioning(course, channel, newcomer)))
    assert not posts_mentioning(course, channel, robot)
    assert not posts_mentioning(course, channel, co_instructor)
    assert len(s.messages(channel)) == 1


async def test_welcome_text_is_an_editable_template(course: Course) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    instructor = course.world.instructor_id
    opened = await course.slash(instructor, "course text edit", {"key": "welcome"})
    saved = await course.sandbox.submit_modal(
        opened, instructor, {modal_input_ids(opened)[0]: "Hey {member}! {course} says hi."}
    )
    await saved.wait_final()
    newcomer = await join(course, "Templated Tess")
    await course.sandbox.wait_for(lambda: bool(posts_mentioning(course, channel, newcomer)))
    (welcome,) = posts_mentioning(course, channel, newcomer)
    assert welcome["content"] == f"Hey <@{newcomer}>! Intro to Data Science says hi."


async def test_intro_write_posts_an_embed_and_running_it_again_edits_the_same_post(
    course: Course,
) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    student = course.world.student_ids[0]
    opened = await course.slash(student, "intro write")
    assert opened.modal is not None
    assert modal_input_ids(opened) == list(FULL_INTRO)
    for component in opened.modal["components"]:
        text_input = component.get("component") or component["components"][0]
        assert 0 < text_input["max_length"] <= 1024
    done = await write_intro(course, student, FULL_INTRO)
    assert "Thanks for introducing yourself" in done.text() and done.ephemeral
    posts = course.sandbox.messages(channel)
    assert len(posts) == 1
    (embed,) = posts[0]["embeds"]
    assert embed["title"] == "👋 Amara (she/her)"
    assert embed["author"]["name"] == course.world.names[student]
    assert "two kids" in str(embed["fields"])
    intro = await stored_intro(course, student)
    assert intro is not None and intro.message_id == int(posts[0]["id"])
    assert intro.answers["fun_fact"] == "I have run three marathons"

    # Again: the form comes prefilled, and the same post is edited.
    again = await course.slash(student, "intro write")
    assert again.modal is not None
    assert "Lagos, Nigeria" in str(again.modal)
    await write_intro(course, student, {**FULL_INTRO, "fun_fact": "I also knit"})
    posts = course.sandbox.messages(channel)
    assert len(posts) == 1
    assert posts[0]["embeds"][0]["fields"][-1]["value"] == "I also knit"
    edited = await stored_intro(course, student)
    assert edited is not None and edited.message_id == intro.message_id
    assert edited.first_posted_at == intro.first_posted_at


async def test_mentions_in_an_intro_ping_nobody(course: Course) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    student, other = course.world.student_ids[:2]
    role = course.world.student_role_id
    await write_intro(
        course,
        student,
        {
            "call_me": "@everyone @here",
            "hopes": f"Hi <@{other}> and <@&{role}> @everyone",
        },
    )
    (post,) = course.sandbox.messages(channel)
    assert pinged(course, post) == set()
    assert allowed_mentions(course, post) == {"parse": []}


async def test_blank_and_zero_width_text_is_refused_and_nothing_is_posted(
    course: Course,
) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    student = course.world.student_ids[0]
    for blank in ("\u200b\u200b\u200b", "   ", "\u2800\u200d"):
        refused = await write_intro(course, student, {"call_me": blank, "hopes": "Learn"})
        assert "empty" in refused.text() and "Nothing was posted" in refused.text()
        assert refused.ephemeral
    assert course.sandbox.messages(channel) == []
    assert await stored_intro(course, student) is None
    # A blank optional answer is simply left out.
    await write_intro(course, student, {"call_me": "Ben", "fun_fact": "\u200b"})
    (post,) = course.sandbox.messages(channel)
    assert post["embeds"][0].get("fields", []) == []


async def test_welcome_button_survives_a_restart_and_always_writes_the_pressers_own_intro(
    course: Course,
) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    newcomer = await join(course, "Button Bea")
    await s.wait_for(lambda: bool(posts_mentioning(course, channel, newcomer)))
    (welcome,) = posts_mentioning(course, channel, newcomer)
    await course.restart_bot()
    custom_id = f"cohortbot:intro:write:{newcomer}"

    clicked = await s.click_button(channel, int(welcome["id"]), newcomer, custom_id)
    await clicked.wait_final()
    assert clicked.modal is not None
    posted = await s.submit_modal(clicked, newcomer, {"call_me": "Bea", "hopes": "Friends"})
    await posted.wait_final()
    intro = await stored_intro(course, newcomer)
    assert intro is not None and intro.answers["call_me"] == "Bea"

    # Someone else pressing the newcomer's button writes THEIR OWN intro, never Bea's.
    other = course.world.student_ids[3]
    clicked = await s.click_button(channel, int(welcome["id"]), other, custom_id)
    await clicked.wait_final()
    assert clicked.modal is not None
    assert "Bea" not in str(clicked.modal)
    posted = await s.submit_modal(clicked, other, {"call_me": "Dana"})
    await posted.wait_final()
    still = await stored_intro(course, newcomer)
    assert still is not None and still.answers["call_me"] == "Bea"
    theirs = await stored_intro(course, other)
    assert theirs is not None and theirs.answers["call_me"] == "Dana"
    assert theirs.message_id != still.message_id


async def test_a_long_plain_message_counts_short_ones_and_replies_do_not(course: Course) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    writer, greeter = course.world.student_ids[:2]
    short = await s.send_message(channel, greeter, "welcome!")
    text = (
        "Hi all, I'm Ben. I work nights as a nurse and study in the mornings; I hope to "
        "find a study buddy for the statistics part."
    )
    assert len(text) >= 80
    long = await s.send_message(channel, writer, text)
    await s.wait_for(
        lambda: any(
            r["emoji"]["name"] == THANKS_EMOJI
            for r in (s.message(int(long["id"])) or {}).get("reactions", [])
        )
    )
    intro = await stored_intro(course, writer)
    assert intro is not None and intro.source == "message"
    assert intro.message_id == int(long["id"])
    assert intro.answers == {}  # only the link is kept
    assert await stored_intro(course, greeter) is None
    assert not (s.message(int(short["id"])) or {}).get("reactions")
    # A long reply is a welcome, not an intro.
    reply_text = "Welcome Ben! I'm on nights too, " + "and I'd love to study together. " * 3
    await s.send_message(channel, greeter, reply_text, reply_to=int(long["id"]))
    welcomes = await wait_for_welcomes(course, 1)
    assert [(w.newcomer_id, w.welcomer_id) for w in welcomes] == [(writer, greeter)]
    assert await stored_intro(course, greeter) is None
    shown = await course.slash(greeter, "intro show", {"member": writer})
    assert long["id"] in shown.text()


async def test_a_changed_minimum_length_applies_to_the_next_message(course: Course) -> None:
    """Intro settings are cached: /course intro settings is obeyed from the next message on."""
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    first, second = course.world.student_ids[:2]
    text = "Hi, I'm Ana from Lisbon; I study data science in the evenings after work, with tea."
    assert 80 <= len(text) < 200
    await s.send_message(channel, first, text)
    await eventually(lambda: _has_intro(course, first))  # the settings are cached now
    saved = await course.slash(
        course.world.instructor_id, "course intro settings", {"min_length": 200}
    )
    assert "from 200 characters" in saved.text()
    await s.send_message(channel, second, text)
    marker = await s.send_message(channel, second, "x" * 210)  # long enough: counted
    await eventually(lambda: _has_intro(course, second))
    intro = await stored_intro(course, second)
    assert intro is not None and intro.message_id == int(marker["id"])


async def _has_intro(course: Course, user: int) -> bool:
    return await stored_intro(course, user) is not None


async def test_more_messages_by_an_introduced_student_read_nothing(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the intro is stored, the author's next top-level messages in the intro channel are
    answered from memory (no intro lookup); after the post is deleted, the next one counts."""
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    writer = course.world.student_ids[0]
    text = "Hi all, I'm Ben. I work nights as a nurse and study in the mornings, with coffee."
    first = await s.send_message(channel, writer, text)
    await eventually(lambda: _has_intro(course, writer))
    store = app_of(course).services.get(IntroService).repository
    reads: list[int] = []
    real_get = store.get

    async def counted_get(guild_id: int, user_id: int) -> Any:
        reads.append(user_id)
        return await real_get(guild_id, user_id)

    monkeypatch.setattr(store, "get", counted_get)
    for i in range(3):
        await s.send_message(channel, writer, f"{text} And one more thing, number {i}.")
    # Events are handled in order: once a classmate's later intro is stored and every
    # handler has finished, the three messages were handled.
    classmate = course.world.student_ids[1]
    await s.send_message(channel, classmate, text.replace("Ben", "Ana"))
    await eventually(lambda: _has_intro(course, classmate))
    await eventually(_handlers_done)
    assert writer not in reads and classmate in reads  # the classmate was looked up
    intro = await stored_intro(course, writer)
    assert intro is not None and intro.message_id == int(first["id"])
    await s.delete_message(channel, int(first["id"]))
    await eventually(lambda: _unposted(course, writer))
    again = await s.send_message(channel, writer, text + " (again)")
    await eventually(lambda: _posted_as(course, writer, int(again["id"])))


async def _handlers_done() -> bool:
    return not any(
        task.get_name().startswith("discord.py: ") and not task.done()
        for task in asyncio.all_tasks()
    )


async def _unposted(course: Course, user: int) -> bool:
    intro = await stored_intro(course, user)
    return intro is not None and not intro.is_posted


async def _posted_as(course: Course, user: int, message_id: int) -> bool:
    intro = await stored_intro(course, user)
    return intro is not None and intro.message_id == message_id
