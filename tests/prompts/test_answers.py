"""Weekly discussion prompts through the real client: posting, answers, replies, groups."""

from __future__ import annotations

from cogs.prompts import PromptService
from cogs.prompts.repository import ParticipationRow
from sandbox.world import FORUM
from tests.support.course import Course, app_of, modal_input_ids
from tests.support.prompts import (
    SUBSTANTIVE,
    answer_thread,
    bot_posts,
    participation,
    post_now,
    set_up_prompts,
    wait_for_replies_received,
    wait_until,
)


async def test_text_channel_answers_peer_replies_and_own_thread_conversation(
    course: Course,
) -> None:
    channel = await set_up_prompts(course)
    s, gid = course.sandbox, course.guild_id
    text = await post_now(course)
    assert "Posted the Week of Sep 7 prompt" in text, text
    (post,) = bot_posts(course, channel)
    assert "Week of Sep 7 discussion" in post["content"]
    assert "What brought you to this course" in post["content"]  # the bank's week-1 prompt
    assert "What made you decide" in post["content"]  # its follow-up stems
    assert post["mentions"] == [] and post["mention_roles"] == []

    amara, ben, chen = course.world.student_ids[:3]
    thread = await answer_thread(course, channel, amara, "I study on the bus and late at night.")
    await s.send_message(thread, ben, SUBSTANTIVE)
    await s.send_message(thread, chen, "Same here!")
    await s.send_message(thread, amara, "Thanks both, that's a great idea")  # conversation
    await s.send_message(thread, course.world.lead_id, "Nice work everyone, keep going!")  # staff
    # A second top-level message by the same student is not a second answer.
    await s.send_message(channel, amara, "Also: I listen to lectures while cooking.")

    await wait_for_replies_received(course, amara, 2)
    rows = await participation(course)
    assert rows[amara] == ParticipationRow(amara, True, 0, 0, 2)
    assert rows[ben] == ParticipationRow(ben, False, 1, 0, 0)
    assert rows[chen] == ParticipationRow(chen, False, 0, 1, 0)
    assert course.world.lead_id not in rows
    threads = [t for t in s.threads_in(gid) if t.get("parent_id") == str(channel)]
    assert len(threads) == 1  # no thread on the second top-level message

    mine = await course.slash(amara, "prompt mine")
    assert "✅ You answered" in mine.text() and "Replies you received: 2" in mine.text()


async def test_a_reply_is_judged_by_its_cohorts_own_substantive_words(course: Course) -> None:
    # The cohort's saved threshold (3 words), not the default (15): a 4-word reply counts.
    channel = await set_up_prompts(course, substantive_words=3)
    s = course.sandbox
    await post_now(course)
    amara, ben, chen = course.world.student_ids[:3]
    thread = await answer_thread(course, channel, amara, "I study on the bus and late at night.")
    await s.send_message(thread, ben, "Buses work for me too")
    await s.send_message(thread, chen, "Same here!")

    await wait_for_replies_received(course, amara, 2)
    rows = await participation(course)
    assert rows[ben] == ParticipationRow(ben, False, 1, 0, 0)
    assert rows[chen] == ParticipationRow(chen, False, 0, 1, 0)


async def test_edits_and_deletes_update_the_counts_with_no_message_cache(course: Course) -> None:
    # The bot keeps no message cache (``max_messages=None``): edits and deletes arrive as raw
    # events only, as they do for messages posted before a restart.
    channel = await set_up_prompts(course)
    s = course.sandbox
    await post_now(course)
    amara, ben, chen = course.world.student_ids[:3]
    thread = await answer_thread(course, channel, amara, "My answer, short and sweet.")
    long_reply = await s.send_message(thread, ben, SUBSTANTIVE)
    short_reply = await s.send_message(thread, chen, "Agreed!")

    async def counts() -> tuple[int, int, int]:
        rows = await participation(course)
        return (
            rows[ben].replies_substantive if ben in rows else -1,
            rows[chen].replies_short if chen in rows else -1,
            rows[amara].replies_received if amara in rows else -1,
        )

    await wait_until(course, counts, (1, 1, 2))
    bot = course.runner.bot
    assert bot is not None
    assert not bot.cached_messages
    await s.edit_message(thread, int(long_reply["id"]), "ok")
    await s.edit_message(thread, int(short_reply["id"]), SUBSTANTIVE)
    rows_expected = (0, 0, 2)
    await wait_until(course, counts, rows_expected)
    rows = await participation(course)
    assert rows[ben].replies_short == 1 and rows[chen].replies_substantive == 1
    await s.delete_message(thread, int(short_reply["id"]))
    await wait_until(course, counts, (0, -1, 1))


async def test_forum_answers_by_modal_and_by_tagged_post(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    forum = s.create_channel(gid, "weekly-discussion", type=FORUM)
    await course.slash(
        course.world.instructor_id,
        "course prompt schedule",
        {"channel": forum, "day": 0, "time": "09:00"},
    )
    assert "Posted" in await post_now(course)
    threads = s.threads_in(gid)
    (prompt_thread,) = [t for t in threads if t.get("parent_id") == str(forum)]
    tag = next(t for t in s.channel(forum)["available_tags"] if t["name"] == "Week of Sep 7")
    assert prompt_thread["applied_tags"] == [tag["id"]]

    amara, ben, chen = course.world.student_ids[:3]
    opened = await s.invoke_slash(gid, s.find_channel(gid, "general") or 0, amara, "prompt answer")
    await opened.wait_response()
    (field_id,) = modal_input_ids(opened)
    submitted = await s.submit_modal(opened, amara, {field_id: "First version of my answer."})
    await submitted.wait_final()
    assert "Your answer is posted" in submitted.text(), submitted.text()
    answers = [t for t in s.threads_in(gid) if t.get("parent_id") == str(forum)]
    assert len(answers) == 2
    # /prompt answer again edits the same post (prefilled with the current text).
    again = await s.invoke_slash(gid, s.find_channel(gid, "general") or 0, amara, "prompt answer")
    await again.wait_response()
    assert again.modal is not None
    assert "First version" in str(again.modal)
    edited = await s.submit_modal(again, amara, {field_id: "Second, better version."})
    await edited.wait_final()
    assert "updated" in edited.text()
    assert len([t for t in s.threads_in(gid) if t.get("parent_id") == str(forum)]) == 2
    amara_post = next(t for t in s.threads_in(gid) if "Amara" in t["name"])
    starter = s.messages(int(amara_post["id"]))[0]
    assert "Second, better version." in starter["content"]
    assert "First version" not in starter["content"]

    # Ben answers by creating his own post with the week's tag; Chen replies to it.
    ben_post = s.create_forum_post(forum, ben, "Ben's answer", "Mine is here.", tags=[tag["name"]])
    untagged = s.create_forum_post(forum, chen, "Off topic", "Where is the syllabus?")

    async def ben_answered() -> bool:
        return ben in await participation(course)

    await wait_until(course, ben_answered, True)
    await s.send_message(ben_post, chen, SUBSTANTIVE)
    await s.send_message(int(amara_post["id"]), ben, "Love it!")

    async def probe() -> tuple[bool, bool, int, int]:
        rows = await participation(course)
        return (
            rows.get(ben, ParticipationRow(ben, False, 0, 0, 0)).answered,
            rows.get(chen, ParticipationRow(chen, False, 0, 0, 0)).answered,
            rows.get(chen, ParticipationRow(chen, False, 0, 0, 0)).replies_substantive,
            rows.get(amara, ParticipationRow(amara, False, 0, 0, 0)).replies_received,
        )

    await wait_until(course, probe, (True, False, 1, 1))
    assert untagged  # an untagged post is not an answer


async def test_big_cohort_gets_stable_groups_each_with_its_own_post(course: Course) -> None:
    channel = await set_up_prompts(course, group_threshold=4, group_size=3)
    s = course.sandbox
    text = await post_now(course)
    assert "to 2 groups" in text, text
    posts = bot_posts(course, channel)
    assert ["Group 1" in p["content"] for p in posts] == [True, False]
    assert "Group 2" in posts[1]["content"]
    app = app_of(course)
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    groups = await app.services.get(PromptService).store.groups(course.guild_id, cohort.cohort_id)
    assert sorted(groups.values()) == [1, 1, 1, 2, 2, 2]
    student = course.world.student_ids[0]
    reply = await course.slash(student, "prompt group")
    assert f"group {groups[student]} of 2 (3 students)" in reply.text(), reply.text()

    # An answer goes to the student's own group's post; a leaver and a joiner rebalance.
    leaver = next(u for u, g in groups.items() if g == 1)
    await s.remove_member(course.guild_id, leaver)
    newcomer = s.create_user("Newcomer")
    await s.add_member(course.guild_id, newcomer, roles=[course.world.student_role_id])
    bot = course.runner.bot
    assert bot is not None
    await s.wait_for(
        lambda: (
            (g := bot.get_guild(course.guild_id)) is not None
            and (g.get_member(newcomer) is not None and g.get_member(leaver) is None)
        )
    )
    reply = await course.slash(newcomer, "prompt group")
    after = await app.services.get(PromptService).store.groups(course.guild_id, cohort.cohort_id)
    assert leaver not in after and after[newcomer] == 1
    assert all(after[u] == g for u, g in groups.items() if u != leaver)  # nobody else moved
    assert "group 1 of 2" in reply.text()


async def test_alerts_role_is_opt_in_and_the_only_mention(course: Course) -> None:
    channel = await set_up_prompts(course)
    s, gid = course.sandbox, course.guild_id
    student = course.world.student_ids[0]
    on = await course.slash(student, "prompt alerts on")
    assert "Prompt alerts are on" in on.text(), on.text()
    role = s.find_role(gid, "Prompt alerts — Cohort 1")
    assert role is not None and role in s.member_role_ids(gid, student)
    # Mentionable: a bot needs Mention Everyone to ping a role that is not.
    assert s.world.role(gid, role).mentionable
    await post_now(course)
    (post,) = bot_posts(course, channel)
    assert f"<@&{role}>" in post["content"]
    assert post["mention_roles"] == [str(role)] and post["mentions"] == []
    assert s.world.messages[int(post["id"])]["_allowed_mentions"]["roles"] == [role]
    assert not post["mention_everyone"]
    off = await course.slash(student, "prompt alerts off")
    assert "off" in off.text() and role not in s.member_role_ids(gid, student)


async def test_post_now_twice_asks_before_a_second_prompt(course: Course) -> None:
    channel = await set_up_prompts(course)
    s = course.sandbox
    await post_now(course)
    record = await course.slash(course.world.instructor_id, "course prompt post-now")
    assert "already posted" in record.text()
    assert len(bot_posts(course, channel)) == 1
    confirm = next(
        m for m in reversed(s.ephemeral_messages(course.world.instructor_id)) if m.get("components")
    )
    button = confirm["components"][0]["components"][0]
    clicked = await s.click_button(
        int(confirm["channel_id"]),
        int(confirm["id"]),
        course.world.instructor_id,
        button["custom_id"],
    )
    await clicked.wait_final()
    assert "Posted" in clicked.text(), clicked.text()
    posts = bot_posts(course, channel)
    assert len(posts) == 2 and "(prompt 2)" in posts[1]["content"]
    assert "What brought you" not in posts[1]["content"]  # the next unused prompt


async def test_prompt_answer_in_a_text_channel_twice_edits_one_message(course: Course) -> None:
    channel = await set_up_prompts(course)
    s, gid = course.sandbox, course.guild_id
    student = course.world.student_ids[0]
    early = await course.slash(student, "prompt mine")
    assert "no discussion prompt open this week" in early.text()
    await post_now(course)
    for text in ("My first answer.", "My better answer."):
        opened = await s.invoke_slash(
            gid, course.world.general_channel_id, student, "prompt answer"
        )
        await opened.wait_response()
        done = await s.submit_modal(opened, student, {"cohortbot:prompt:answer:text": text})
        await done.wait_final()
    assert "updated" in done.text()
    posts = bot_posts(course, channel)
    assert len(posts) == 2  # the prompt and one answer
    assert "My better answer." in posts[1]["content"] and "Amara" in posts[1]["content"]
    assert s.channel(int(posts[1]["id"])) is not None  # its thread
    rows = await participation(course)
    assert rows[student].answered


async def test_alerts_ping_only_the_posting_cohorts_students(course: Course) -> None:
    channel = await set_up_prompts(course)
    s, gid = course.sandbox, course.guild_id
    instructor = course.world.instructor_id
    section_b = s.create_role(gid, "Section B")
    # A role an admin made by hand with the cohort's alerts name is reused, made mentionable.
    handmade = s.create_role(gid, "Prompt alerts — Section B")
    bot = course.runner.bot
    assert bot is not None
    await s.wait_for(
        lambda: (g := bot.get_guild(gid)) is not None and g.get_role(handmade) is not None
    )
    added = await course.slash(
        instructor, "course cohort add", {"name": "Section B", "role": section_b}
    )
    assert "Added cohort" in added.text(), added.text()
    a_student, b_student = course.world.student_ids[0], course.world.student_ids[5]
    await s.remove_member_role(gid, b_student, course.world.student_role_id)
    await s.add_member_role(gid, b_student, section_b)
    guild = bot.get_guild(gid)
    assert guild is not None
    await s.wait_for(
        lambda: (
            (m := guild.get_member(b_student)) is not None and section_b in {r.id for r in m.roles}
        )
    )
    b_channel = s.create_channel(gid, "section-b-discussion")
    scheduled = await course.slash(
        instructor,
        "course prompt schedule",
        {"channel": b_channel, "day": 0, "time": "09:00", "cohort": "Section B"},
    )
    assert "will post in" in scheduled.text(), scheduled.text()
    for student in (a_student, b_student):
        on = await course.slash(student, "prompt alerts on")
        assert "Prompt alerts are on" in on.text(), on.text()
    role_a = s.find_role(gid, "Prompt alerts — Cohort 1")
    assert role_a is not None and role_a != handmade
    assert s.member_role_ids(gid, a_student).count(handmade) == 0
    assert handmade in s.member_role_ids(gid, b_student)
    assert role_a not in s.member_role_ids(gid, b_student)
    assert s.world.role(gid, handmade).mentionable

    for cohort in ("Cohort 1", "Section B"):
        posted = await course.slash(instructor, "course prompt post-now", {"cohort": cohort})
        assert "Posted" in posted.text(), posted.text()
    (post_a,) = bot_posts(course, channel)
    (post_b,) = bot_posts(course, b_channel)
    assert post_a["mention_roles"] == [str(role_a)] and f"<@&{handmade}>" not in post_a["content"]
    assert post_b["mention_roles"] == [str(handmade)] and f"<@&{role_a}>" not in post_b["content"]
