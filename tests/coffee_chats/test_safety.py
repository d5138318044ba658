"""Coffee-chat safety through the real client: the safety records others made survive your
erasure, and a report from a trio names the other members."""

from __future__ import annotations

from typing import Any

from cogs.coffee_chats import MatchingService
from cogs.privacy import PrivacyService
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
    assert "Safety records others made about you" in info

    asked = await course.slash(b, "privacy delete")
    done = await s.click_button(
        course.world.general_channel_id,
        asked.responses[0]["message_id"],
        b,
        asked_button(asked, "Yes"),
    )
    await s.wait_for(lambda: "erased" in done.text())
    # b's own rows are gone; the avoid and the block that name b are kept.
    left = await app.services.get(PrivacyService).repository.rows_mentioning(gid, b)
    assert sorted(t for t in left if t.startswith("match_")) == ["match_avoids", "match_blocks"]
    pairs = await app.services.get(MatchingService).store.forbidden_pairs(gid)
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
