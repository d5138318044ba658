"""Coffee-chat matching through the real discord.py client and the sandbox: joining, the
instructor's preview (swap, post exactly what was previewed, stale proposals), threads and
their explanation, follow-up buttons (also after a restart), the DM fallback at the thread
limit, re-matches, reports to staff, and a big dry run within the embed limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cogs.coffee_chats import MatchingService
from cogs.nudges import NudgeEngine
from cogs.privacy import PrivacyService
from cogs.profiles import ProfileService
from sandbox.harness import BOT_ROLE_PERMISSIONS
from sandbox.server import InteractionRecord
from tests.support.coffee_chats import (
    button,
    click,
    groups_now,
    last_ephemeral,
    match_threads,
    post,
    run_and_preview,
    select_id,
    start,
    tick,
)
from tests.support.course import Course, app_of, channel


async def test_preview_swap_and_post_exactly_as_previewed(course: Course) -> None:
    a, b, c, d = await start(course, 4)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    # a and b share work and school-age kids; a shows both to matches, b keeps work private.
    await app.services.get(ProfileService).set(
        gid, a, {"work": "full_time", "caregiving": "school_age_children"}, visibility="matches"
    )
    await app.services.get(ProfileService).set(gid, b, {"work": "full_time"}, visibility="private")
    await app.services.get(ProfileService).set(
        gid, b, {"caregiving": "school_age_children"}, visibility="matches"
    )
    # a may only be with b.
    for other in (c, d):
        await app.services.get(MatchingService).store.add_block(
            gid, a, other, now=course.clock.now()
        )

    preview = await run_and_preview(course)
    assert sorted(await groups_now(course)) == sorted([sorted([a, b]), sorted([c, d])])
    embed_text = str(preview["embeds"])
    assert "score" in embed_text and "Page 1/1" in embed_text
    # Staff see only what classmates may see: nothing here is shared with classmates.
    assert "full-time" not in embed_text

    # A swap that would put a with a blocked classmate is refused; nothing changes.
    swap_id = select_id(preview, "Swap two people…")
    refused = await s.select(
        int(preview["channel_id"]),
        int(preview["id"]),
        course.world.instructor_id,
        swap_id,
        [str(b), str(c)],
    )
    await refused.wait_final()
    assert "must not be matched" in refused.text()
    assert sorted(await groups_now(course)) == sorted([sorted([a, b]), sorted([c, d])])

    # Unblock-free swap: c <-> d changes nothing structurally but is allowed; swap b and c
    # after lifting nothing is impossible, so swap c and d's groups with a legal pair.
    await app.db.execute_write("DELETE FROM match_blocks WHERE guild_id = ?", (gid,))
    swapped = await s.select(
        int(preview["channel_id"]),
        int(preview["id"]),
        course.world.instructor_id,
        swap_id,
        [str(b), str(c)],
    )
    await swapped.wait_final()
    assert "Swapped" in swapped.text()
    previewed = sorted(await groups_now(course))
    assert previewed == sorted([sorted([a, c]), sorted([b, d])])

    posted = await post(course, preview)
    assert "Posted 2 group(s): 2 thread(s)" in posted.text(), posted.text()
    # Exactly the saved (edited) proposal was delivered.
    threads = match_threads(course)
    assert len(threads) == 2
    delivered = sorted(sorted(s.thread_members(int(t["id"]))) for t in threads)
    bot_id = s.bot_user_id
    assert sorted(sorted(u for u in m if u != bot_id) for m in delivered) == previewed
    for thread in threads:
        assert thread["type"] == 12  # private
        assert thread["thread_metadata"]["invitable"] is False
    # A second "Post these" posts nothing.
    again = await post(course, preview)
    assert "already posted" in again.text()
    assert len(match_threads(course)) == 2


async def test_thread_explains_only_what_members_show(course: Course) -> None:
    a, b = await start(course, 2)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    await app.services.get(ProfileService).set(
        gid, a, {"work": "full_time", "caregiving": "school_age_children"}, visibility="matches"
    )
    await app.services.get(ProfileService).set(gid, b, {"work": "full_time"}, visibility="private")
    await app.services.get(ProfileService).set(
        gid, b, {"caregiving": "school_age_children"}, visibility="matches"
    )
    await post(course, await run_and_preview(course))
    [thread] = match_threads(course)
    [message] = s.messages(int(thread["id"]))
    text = message["content"]
    assert "school-age kids" in text
    assert "full-time" not in text  # b keeps work private: never explained
    assert f"<@{a}>" in text and f"<@{b}>" in text
    assert "moderators can read private threads" in text
    assert "Report to staff" in str(message["components"])


async def test_bad_input_is_refused_and_changes_nothing(course: Course) -> None:
    await course.setup_course()
    s, app = course.sandbox, app_of(course)
    instructor = course.world.instructor_id
    a, b, c = course.world.student_ids[:3]
    # Fewer than 2 eligible students: clear message, nothing saved or posted.
    await course.slash(a, "match join")
    record = await course.slash(instructor, "course match run")
    assert "Only 1 student(s)" in record.text() and "Nothing was posted" in record.text()
    assert await app.db.fetchall("SELECT * FROM match_rounds") == []
    # Avoiding or blocking yourself, or someone outside the server.
    outsider = s.create_user("Not A Member")
    assert "can't avoid yourself" in (await course.slash(a, "match avoid", {"member": a})).text()
    assert "isn't a member" in (await course.slash(a, "match avoid", {"member": outsider})).text()
    assert (
        "two different people"
        in (await course.slash(instructor, "course match block", {"a": b, "b": b})).text()
    )
    assert (
        "isn't a member"
        in (await course.slash(instructor, "course match block", {"a": b, "b": outsider})).text()
    )
    assert await app.db.fetchall("SELECT * FROM match_avoids") == []
    assert await app.db.fetchall("SELECT * FROM match_blocks") == []
    # Staff are never matched; paused students sit out.
    refused = await course.slash(instructor, "match join")
    assert "staff are never matched" in refused.text()
    await course.slash(b, "match join")
    await course.slash(c, "match join")
    paused = await course.slash(c, "match pause", {"weeks": 2})
    assert "Paused until" in paused.text()
    assert "1–12 weeks" in (await course.slash(b, "match pause", {"weeks": 0})).text()
    await run_and_preview(course)
    assert await groups_now(course) == [sorted([a, b])]
    # A private avoid takes effect: a and b can no longer be matched.
    assert "nobody is told" in (await course.slash(a, "match avoid", {"member": b})).text()
    record = await course.slash(instructor, "course match run")
    assert "Coffee-chat preview" in record.text()
    assert await groups_now(course) == []


async def test_stale_proposal_is_revalidated_before_posting(course: Course) -> None:
    a, b, c, d = await start(course, 4)
    s, gid = course.sandbox, course.guild_id
    preview = await run_and_preview(course)
    leaver = a
    await s.remove_member(gid, leaver)
    await s.wait_for(lambda: course.runner.bot.get_guild(gid).get_member(leaver) is None)  # type: ignore[union-attr]
    stale = await post(course, preview)
    assert "changed since you saw it" in stale.text()
    assert "left the server" in stale.text()
    assert match_threads(course) == []
    groups = await groups_now(course)
    assert all(leaver not in g for g in groups)
    assert sorted(u for g in groups for u in g) == sorted([b, c, d])  # the trio
    fresh = last_ephemeral(course, course.world.instructor_id, "Post these")
    done = await post(course, fresh)
    assert "Posted 1 group(s)" in done.text(), done.text()
    assert len(match_threads(course)) == 1


async def test_followup_buttons_survive_restart_and_refuse_strangers(course: Course) -> None:
    a, b, c, d = await start(course, 4)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    for other in (c, d):
        await app.services.get(MatchingService).store.add_block(
            gid, a, other, now=course.clock.now()
        )
    await post(course, await run_and_preview(course))
    course.clock.advance(timedelta(days=4))
    await tick(course)
    thread = next(t for t in match_threads(course) if a in s.thread_members(int(t["id"])))
    followup = s.messages(int(thread["id"]))[-1]
    assert "did you manage to meet" in followup["content"]

    await course.restart_bot()
    app = app_of(course)
    met_id = button(followup, "Met")
    general = course.world.general_channel_id

    def forged_with(custom_id: str) -> dict[str, Any]:
        message = s.world.build_message(
            general,
            s.bot_user_id,
            {
                "content": "x",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "Met", "custom_id": custom_id}
                        ],
                    }
                ],
            },
        )
        s.world.store_message(message)
        return message

    # Someone outside the group (who can't even see the thread) replays the real custom_id.
    stranger = await click(course, forged_with(met_id), c, met_id)
    assert "Only the members" in stranger.text()
    # A forged custom_id for a group that does not exist.
    fake = f"cohortbot:match:out:{gid}:999999:met"
    record = await click(course, forged_with(fake), a, fake)
    assert "can't find" in record.text()
    assert (await app.services.get(MatchingService).current_group(gid, c)) is not None
    assert all(
        m.outcome is None
        for m in (await app.services.get(MatchingService).current_group(gid, c)).members
    )  # type: ignore[union-attr]
    # The member's click, after the restart, is recorded and counts as met.
    ok = await click(course, followup, a, met_id)
    assert "Wonderful" in ok.text()
    group = await app.services.get(MatchingService).current_group(gid, a)
    assert group is not None and group.met
    outcomes = await app.services.get(MatchingService).store.week_outcomes(
        gid, 1, course.clock.now() - timedelta(days=7), course.clock.now()
    )
    assert outcomes.outcomes[a] == "met" and a in outcomes.met and b in outcomes.met
    assert outcomes.outcomes[c] is None


async def test_button_from_another_guild_is_refused(course: Course) -> None:
    await start(course, 2)
    s, gid = course.sandbox, course.guild_id
    await post(course, await run_and_preview(course))
    [thread] = match_threads(course)
    [intro] = s.messages(int(thread["id"]))
    report_id = button(intro, "Report to staff")
    owner = s.create_user("Other Owner")
    other = s.create_guild("Other", owner_id=owner, bot_permissions=BOT_ROLE_PERMISSIONS.value)
    general = s.find_channel(other, "general")
    assert general is not None
    await s.wait_for(
        lambda: course.runner.bot is not None and course.runner.bot.get_guild(other) is not None
    )
    forged = s.world.build_message(
        general,
        s.bot_user_id,
        {
            "content": "x",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 1, "label": "Report", "custom_id": report_id}
                    ],
                }
            ],
        },
    )
    s.world.store_message(forged)
    record = await click(course, forged, owner, report_id)
    assert "doesn't belong to this server" in record.text()
    assert gid != other


async def test_thread_limit_falls_back_to_dms_and_names_closed_dms(course: Course) -> None:
    a, b, c, d = await start(course, 4)
    s = course.sandbox
    s.close_dms(d)
    s.inject_fault("POST", r"/channels/\d+/threads$", 400, code=160006)
    posted = await post(course, await run_and_preview(course))
    text = posted.text()
    assert "0 thread(s), 2 by DM" in text, text
    assert "limit of active threads" in text
    assert f"<@{d}>" in text and "DMs closed" in text
    assert match_threads(course) == []
    for user in (a, b, c):
        [dm] = s.dm_messages(user)
        assert "couldn't open a private thread" in dm["content"]
        assert "Report to staff" in str(dm["components"])
    closed = await app_of(course).services.get(NudgeEngine).dm_closed_users(course.guild_id)
    assert d in closed


async def test_couldnt_connect_rematches_two_waiting_students(course: Course) -> None:
    a, b, c, d = await start(course, 4)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    for other in (c, d):
        await app.services.get(MatchingService).store.add_block(
            gid, a, other, now=course.clock.now()
        )
    await post(course, await run_and_preview(course))
    course.clock.advance(timedelta(days=4))
    await tick(course)

    async def no_connect(user: int) -> InteractionRecord:
        thread = next(t for t in match_threads(course) if user in s.thread_members(int(t["id"])))
        followup = s.messages(int(thread["id"]))[-1]
        answered = await click(course, followup, user, button(followup, "Couldn't connect"))
        assert "new partner" in answered.text()
        offer = last_ephemeral(course, user, "cohortbot:match:after")
        return await click(course, offer, user, button(offer, "Find me a new partner"))

    first = await no_connect(b)
    assert "placed first next round" in first.text()
    second = await no_connect(c)
    assert "re-matched with" in second.text(), second.text()
    threads = match_threads(course)
    assert len(threads) == 3
    newest = max(threads, key=lambda t: int(t["id"]))
    assert {b, c} <= set(s.thread_members(int(newest["id"])))


async def test_report_from_thread_and_context_menu(course: Course) -> None:
    a, b = await start(course, 2)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    leads = channel(course, "cohort-leads")
    await post(course, await run_and_preview(course))
    [thread] = match_threads(course)
    [intro] = s.messages(int(thread["id"]))
    opened = await click(course, intro, a, button(intro, "Report to staff"))
    assert "goes privately to the course staff" in opened.text()
    choice = last_ephemeral(course, a, "Report and never match us")
    sent = await click(course, choice, a, button(choice, "Report and never match us"))
    assert "went privately to the course staff" in sent.text()
    note = s.messages(leads)[-1]["content"]
    assert f"<@{a}>" in note and f"<@{b}>" in note and str(thread["id"]) in note
    assert frozenset((a, b)) in await app.services.get(MatchingService).store.forbidden_pairs(gid)

    # The message context menu works anywhere, e.g. on a message in #general.
    general = course.world.general_channel_id
    posted = await s.send_message(general, b, "something unkind")
    record = await s.invoke_message_command(gid, general, a, "Report to staff", int(posted["id"]))
    await record.wait_final()
    menu = last_ephemeral(course, a, "Report only")
    await click(course, menu, a, button(menu, "Report only"))
    note = s.messages(leads)[-1]["content"]
    assert "Report to staff" in note and str(posted["id"]) in note
    reports = await app.db.fetchall("SELECT * FROM match_reports ORDER BY report_id")
    assert [r["reported_id"] for r in reports] == [b, b]


async def test_schedule_runs_on_the_calendar_and_student_commands(course: Course) -> None:
    a, b = await start(course, 2)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    instructor = course.world.instructor_id
    # A dry run only previews.
    dry = await course.slash(instructor, "course match run", {"dry_run": True})
    assert "Dry run" in dry.text() and "Coffee-chat preview" in dry.text()
    assert await app.db.fetchall("SELECT * FROM match_rounds") == []
    bad = await course.slash(
        instructor, "course match schedule", {"cadence": "weekly", "day": 1, "time": "25:00"}
    )
    assert "isn't a time" in bad.text()
    record = await course.slash(
        instructor, "course match schedule", {"cadence": "weekly", "day": 1, "time": "09:00"}
    )
    assert "Coffee-chat rounds for" in record.text(), record.text()
    status = await course.slash(a, "match status")
    assert "Next round: <t:" in status.text()
    items = await app.upcoming.items(
        gid, course.clock.now(), course.clock.now() + timedelta(days=8)
    )
    assert any(item.kind == "coffee-chat round" for item in items)
    # Tuesday 09:00 New York: the scheduled round posts by itself (no preview-first).
    course.clock.set(next(i.when for i in items if i.kind == "coffee-chat round"))
    runs = await app.scheduler.run_due()
    assert [r.kind for r in runs] == ["match_round"]
    await app.outbox.drain()
    assert len(match_threads(course)) == 1
    leads = channel(course, "cohort-leads")
    assert "Coffee-chat round posted" in s.messages(leads)[-1]["content"]
    assert "Current group:" in (await course.slash(a, "match status")).text()
    history = await course.slash(a, "match history")
    assert course.world.names[b] in history.text() and "no answer" in history.text()
    prefs = await course.slash(a, "match prefs", {"work": "similar", "timezone": "different"})
    assert "Saved" in prefs.text()
    profile = await app.services.get(ProfileService).get(gid, a)
    assert profile is not None and profile.preference("work") == "similar"
    assert profile.preference("timezone") == "different"
    assert "You've left" in (await course.slash(a, "match leave")).text()
    assert "not in the coffee-chat rounds" in (await course.slash(a, "match status")).text()


async def test_ignored_rounds_ask_once_with_pause_choices_then_privacy_erases(
    course: Course,
) -> None:
    a, b = await start(course, 2)
    s, app, gid = course.sandbox, app_of(course), course.guild_id

    async def one_round(b_says_met: bool) -> None:
        await post(course, await run_and_preview(course))
        course.clock.advance(timedelta(days=4))
        await tick(course)  # "Did you meet?"
        if b_says_met:
            [thread] = [t for t in match_threads(course) if not t["thread_metadata"]["archived"]]
            followup = s.messages(int(thread["id"]))[-1]
            assert "did you manage to meet" in followup["content"]
            await click(course, followup, b, button(followup, "Met"))
        course.clock.advance(timedelta(days=4))
        await tick(course)  # the round ends (threads archived)

    # a never answers, but b reports they met: a took part, so it isn't "ignoring" a round.
    for _ in range(3):
        await one_round(b_says_met=True)
    part = await app.services.get(MatchingService).store.participant(gid, a)
    assert part is not None and part.ignored_rounds == 0
    assert not [m for m in s.dm_messages(a) if "last three" in m["content"]]
    for _ in range(3):
        await one_round(b_says_met=False)
    rounds = await app.db.fetchall(
        "SELECT status, round_index FROM match_rounds ORDER BY round_index"
    )
    assert [(r["status"], r["round_index"]) for r in rounds] == [("ended", i) for i in range(1, 7)]
    archived = [t for t in match_threads(course) if t["thread_metadata"]["archived"]]
    assert len(archived) == 6
    asks = [m for m in s.dm_messages(a) if "last three coffee-chat rounds" in m["content"]]
    assert len(asks) == 1
    labels = [c["label"] for row in asks[0]["components"] for c in row["components"]]
    assert labels == ["Stay in", "Pause 2 weeks", "Pause 4 weeks", "Pause 8 weeks"]
    paused = await click(course, asks[0], a, button(asks[0], "Pause 8 weeks"))
    assert "Paused until" in paused.text()
    part = await app.services.get(MatchingService).store.participant(gid, a)
    assert part is not None and part.paused_until is not None
    assert part.paused_until - course.clock.now() == timedelta(weeks=8)
    # A seventh ignored round does not ask again.
    await app.services.get(MatchingService).store.pause(gid, a, None, now=course.clock.now())
    await one_round(b_says_met=False)
    assert len([m for m in s.dm_messages(b) if "last three" in m["content"]]) == 1
    # Privacy: export lists the student's rows; erase leaves none that name them.
    exported = await app.services.get(MatchingService).store.export_user(gid, a)
    assert len(exported["match_members"]) == 7 and exported["match_participants"]
    await app.services.get(MatchingService).store.delete_user(gid, a)
    left = await app.services.get(PrivacyService).repository.rows_mentioning(gid, a)
    assert [table for table in left if table.startswith("match_")] == []


async def test_preview_first_waits_for_the_instructor(course: Course) -> None:
    a, _b = await start(course, 2)
    s, app = course.sandbox, app_of(course)
    instructor = course.world.instructor_id
    settings = await course.slash(
        instructor, "course match settings", {"preview_first": True, "group_size": 2}
    )
    assert "wait for your review" in settings.text()
    await course.slash(
        instructor, "course match schedule", {"cadence": "weekly", "day": 1, "time": "09:00"}
    )
    items = await app.upcoming.items(
        course.guild_id, course.clock.now(), course.clock.now() + timedelta(days=8)
    )
    course.clock.set(next(i.when for i in items if i.kind == "coffee-chat round"))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert match_threads(course) == []
    note = s.messages(channel(course, "cohort-leads"))[-1]
    assert "proposal for" in note["content"]
    review = button(note, "Review the proposal")
    # Staff buttons check again on click: a student replaying the button is refused.
    replay = s.world.build_message(
        course.world.general_channel_id,
        s.bot_user_id,
        {
            "content": "x",
            "components": [
                {
                    "type": 1,
                    "components": [{"type": 2, "style": 1, "label": "R", "custom_id": review}],
                }
            ],
        },
    )
    s.world.store_message(replay)
    refused = await click(course, replay, a, review)
    assert "Manage Server" in refused.text()
    assert (await app.db.fetchall("SELECT status FROM match_rounds"))[0]["status"] == "proposed"
    opened = await click(course, note, instructor, review)
    assert "Coffee-chat preview" in opened.text()
    done = await post(course, last_ephemeral(course, instructor, "Post these"))
    assert "Posted 1 group(s)" in done.text()
    assert len(match_threads(course)) == 1


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
        await app.services.get(MatchingService).join(gid, user)

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
