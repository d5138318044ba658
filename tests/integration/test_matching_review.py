"""Review fixes for coffee-chat matching, through the real client and the sandbox: safety records
survive the other person's erasure, the trio report names people, and a big dry run shows every
group within Discord's embed limits."""

from __future__ import annotations

from typing import Any

from sandbox.harness import STUDENT_NAMES
from tests.support.coffee_chats import (
    button,
    click,
    last_ephemeral,
    match_threads,
    post,
    run_and_preview,
    start,
)
from tests.support.course import Course, app_of
from tests.support.privacy import asked_button


async def test_erasing_your_data_keeps_the_safety_records_others_made(course: Course) -> None:
    a, b, c, d = await start(course, 4)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    instructor = course.world.instructor_id
    await course.slash(a, "match avoid", {"member": b})  # a's safety record about b
    await course.slash(instructor, "course match block", {"a": b, "b": c})  # the instructor's
    await course.slash(b, "match avoid", {"member": d})  # b's own choice
    info = (await course.slash(b, "privacy info")).text()
    assert "Safety records other people made about you" in info

    asked = await course.slash(b, "privacy delete")
    done = await s.click_button(
        course.world.general_channel_id,
        asked.responses[0]["message_id"],
        b,
        asked_button(asked, "Yes"),
    )
    await s.wait_for(lambda: "erased" in done.text())
    # b's own rows are gone; the avoid and the block that name b are kept.
    left = await app.privacy_store.rows_mentioning(gid, b)
    assert sorted(t for t in left if t.startswith("match_")) == ["match_avoids", "match_blocks"]
    pairs = await app.match_store.forbidden_pairs(gid)
    assert frozenset((a, b)) in pairs and frozenset((b, c)) in pairs
    assert frozenset((b, d)) not in pairs

    # b joins again: the next round still never pairs b with a or c.
    assert "You're in" in (await course.slash(b, "match join")).text()
    await post(course, await run_and_preview(course))
    for thread in match_threads(course):
        members = set(s.thread_members(int(thread["id"])))
        assert not {a, b} <= members and not {b, c} <= members


def select_options(message: dict[str, Any], placeholder: str) -> list[dict[str, Any]]:
    for row in message.get("components") or []:
        for comp in row.get("components") or []:
            if comp.get("placeholder") == placeholder:
                return list(comp["options"])
    raise AssertionError(f"no select {placeholder!r}")


async def test_report_in_a_trio_names_the_other_members(course: Course) -> None:
    await course.setup_course()
    settings = await course.slash(
        course.world.instructor_id, "course match settings", {"group_size": 3}
    )
    assert "3" in settings.text(), settings.text()
    a, b, c = await start(course, 3)
    s = course.sandbox
    await post(course, await run_and_preview(course))
    [thread] = match_threads(course)
    [intro] = s.messages(int(thread["id"]))
    await click(course, intro, a, button(intro, "Report to staff"))
    choice = last_ephemeral(course, a, "Report and never match us")
    options = select_options(choice, "Who is this about?")
    assert sorted(o["label"] for o in options) == sorted(STUDENT_NAMES[1:3])
    assert {int(o["value"]) for o in options} == {b, c}


LONG_NAME = "A classmate with a long name {:03d}"  # 32 characters, Discord's longest nickname


async def test_big_dry_run_shows_every_group_once_within_the_embed_limits(
    course: Course,
) -> None:
    await course.setup_course()
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    # 6 students from the fixture + 164 more: 85 pairs, more than 10 pages of 8 groups.
    extra = []
    for index in range(164):
        user = s.create_user(f"student{index}")
        await s.add_member(
            gid, user, roles=[course.world.student_role_id], nick=LONG_NAME.format(index)
        )
        extra.append(user)
    bot = course.runner.bot
    assert bot is not None
    await s.wait_for(
        lambda: (g := bot.get_guild(gid)) is not None and g.get_member(extra[-1]) is not None
    )
    students = [*course.world.student_ids, *extra]
    for user in students:
        await app.matching.join(gid, user)

    record = await course.slash(course.world.instructor_id, "course match run", {"dry_run": True})
    await s.wait_for(lambda: "Page 11/11" in record.text())
    assert "Dry run" in record.text()
    embeds = [e for r in record.responses for e in r.get("embeds") or []]
    assert len(embeds) == 11  # every page, and each message fit (the sandbox enforces it)
    assert len([r for r in record.responses if r.get("embeds")]) > 1
    lines = [line for e in embeds for line in e["description"].splitlines()]
    assert [line.split("**")[1] for line in lines] == [f"{n}." for n in range(1, 86)]
    names = " ".join(lines)
    for index in range(164):
        assert names.count(LONG_NAME.format(index)) == 1
    assert await app.db.fetchall("SELECT * FROM match_rounds") == []
