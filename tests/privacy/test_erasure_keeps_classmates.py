"""Erasing one student through the real client leaves every classmate's record as it was, and
removes the erased student's words and name from the bot's posts."""

from __future__ import annotations

import json
from typing import Any

from cogs.privacy import PrivacyService
from tests.support.coffee_shop import submit_share
from tests.support.course import Course, channel, modal_input_ids
from tests.support.privacy import asked_button
from tests.support.prompts import participation, post_now, set_up_prompts, wait_until

TWENTY_WORDS = (
    "I had the same problem with my schedule and blocking two early mornings each week "
    "really helped me a lot"
)


async def export_of(course: Course, user_id: int) -> dict[str, Any]:
    record = await course.slash(user_id, "privacy export")
    files = [f for r in record.responses for f in r.get("files") or []]
    assert len(files) == 1
    data: dict[str, Any] = json.loads(files[0]["data"])
    return data


def stats_row(text: str, name: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(name))
    return line[22:].split()  # grp, ans, subst, short, recv


async def delete_my_data(course: Course, user_id: int) -> None:
    asked = await course.slash(user_id, "privacy delete")
    done = await course.sandbox.click_button(
        course.world.general_channel_id,
        asked.responses[0]["message_id"],
        user_id,
        asked_button(asked, "Yes"),
    )
    await done.wait_final()
    await course.sandbox.wait_for(lambda: "erased" in done.text())


async def test_erasing_amara_keeps_chens_reply_in_her_thread(course: Course) -> None:
    channel_id = await set_up_prompts(course)
    s, gid = course.sandbox, course.guild_id
    await post_now(course)
    amara, _, chen = course.world.student_ids[:3]
    # Amara answers with /prompt answer: the bot posts her words and opens the thread.
    opened = await s.invoke_slash(gid, course.world.general_channel_id, amara, "prompt answer")
    await opened.wait_response()
    (field_id,) = modal_input_ids(opened)
    submitted = await s.submit_modal(opened, amara, {field_id: "I study on the bus."})
    await submitted.wait_final()
    assert "Your answer is posted" in submitted.text(), submitted.text()
    answer_post = s.messages(channel_id)[-1]
    thread = int(answer_post["id"])
    await s.wait_for(lambda: s.channel(thread) is not None)
    reply = await s.send_message(thread, chen, TWENTY_WORDS)

    async def chen_substantive() -> int:
        rows = await participation(course)
        return rows[chen].replies_substantive if chen in rows else -1

    await wait_until(course, chen_substantive, 1)
    stats = await course.slash(course.world.instructor_id, "course prompt stats")
    assert stats_row(stats.text(), "Chen Wei")[2] == "1"
    before = await export_of(course, chen)
    assert [r["message_id"] for r in before["tables"]["prompt_replies"]] == [int(reply["id"])]

    await delete_my_data(course, amara)
    # The bot deleted Amara's answer post; its own delete listener has run by now.
    await s.wait_for(lambda: all(int(m["id"]) != thread for m in s.messages(channel_id)))
    await wait_until(course, chen_substantive, 1)
    stats = await course.slash(course.world.instructor_id, "course prompt stats")
    assert stats_row(stats.text(), "Chen Wei")[2] == "1"
    after = await export_of(course, chen)
    assert after["tables"]["prompt_replies"] == before["tables"]["prompt_replies"]
    app = course.runner.app
    assert app is not None
    replies = await app.db.fetchall("SELECT user_id FROM prompt_replies WHERE guild_id = ?", (gid,))
    assert [r["user_id"] for r in replies] == [chen]
    answers = await app.db.fetchall("SELECT user_id FROM prompt_answers WHERE guild_id = ?", (gid,))
    assert [r["user_id"] < 0 for r in answers] == [True]  # kept, without Amara's id
    # The thread the bot named after her stays (Chen's reply is in it), renamed.
    assert s.channel(thread)["name"] == "A classmate's answer"


async def test_erasure_removes_celebrations_and_amaras_name_from_kudos(course: Course) -> None:
    await course.setup_course()
    s = course.sandbox
    amara, ben, chen = course.world.student_ids[:3]
    coffee = channel(course, "coffee-shop")
    await submit_share(course, amara, "celebrate", {"kind": "personal win"}, "I ran my first 5k!")
    await submit_share(
        course, amara, "share", {"kind": "life update", "without_my_name": True}, "New job!"
    )
    await course.slash(amara, "kudos", {"member": ben, "reason": "great notes"})
    await course.slash(chen, "kudos", {"member": amara, "reason": "thanks Amara for the help"})
    await course.slash(chen, "kudos", {"member": ben, "reason": "you rock"})
    assert len(s.messages(coffee)) == 5

    info = (await course.slash(amara, "privacy info")).text()
    assert "kudos you gave are edited" in info and "celebrations and shares" in info
    await delete_my_data(course, amara)
    left = s.messages(coffee)
    text = json.dumps(left)
    assert "5k" not in text and "New job" not in text  # her posts are gone
    assert "Amara" not in text and str(amara) not in text and "great notes" not in text
    assert "thanks Amara" not in text  # the kudos she received named her: deleted
    # Ben keeps both thanks: Chen's as it was, Amara's without her name or words.
    assert len(left) == 2
    assert any("you rock" in json.dumps(m) for m in left)
    assert any(f"<@{ben}>" in m["content"] and "a classmate" in m["content"] for m in left)
    app = course.runner.app
    assert app is not None
    assert (
        await app.services.get(PrivacyService).repository.rows_mentioning(course.guild_id, amara)
        == {}
    )
