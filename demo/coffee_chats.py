"""The coffee-chat demo scenes: 31 students join (so one trio), the instructor previews a
round, swaps two people and posts it; a thread with its explanation; "Met"; a "Couldn't
connect" re-match; and a report to staff."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cogs.coffee_chats import MatchingService
from cogs.profiles import ProfileService
from cogs.profiles.rules import Attribute, Visibility
from sandbox.server import InteractionRecord

if TYPE_CHECKING:
    from demo.run import Transcript

# Varied, realistic circumstances (cycled over the students); visibility varies too, so the
# explanations show only what each pair chose to share with matches.
_PROFILES: list[dict[Attribute, str]] = [
    {
        "work": "full_time",
        "caregiving": "school_age_children",
        "availability": "weekday_evenings",
        "timezone": "America/New_York",
    },
    {
        "work": "full_time",
        "caregiving": "young_children",
        "availability": "weekends",
        "timezone": "America/Chicago",
    },
    {
        "work": "part_time",
        "caregiving": "adult_family",
        "availability": "weekday_mornings",
        "timezone": "Europe/London",
    },
    {
        "work": "not_working",
        "caregiving": "none",
        "availability": "weekday_daytime",
        "timezone": "America/Los_Angeles",
        "first_in_family": "yes",
    },
    {
        "work": "full_time",
        "caregiving": "none",
        "availability": "weekday_evenings",
        "timezone": "America/New_York",
        "first_in_family": "yes",
    },
]
_VISIBILITY: list[Visibility] = ["matches", "matches", "private", "classmates", "matches"]


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        str(c.get("label") or c.get("placeholder")): str(c["custom_id"])
        for row in message.get("components") or []
        for c in row.get("components") or []
        if c.get("custom_id")
    }


def _last_ephemeral(t: Transcript, user: int, label: str) -> dict[str, Any]:
    for message in reversed(t.sandbox.ephemeral_messages(user)):
        if label in _buttons(message):
            return message
    raise AssertionError(f"no ephemeral message with {label!r}")


async def _click(
    t: Transcript, message: dict[str, Any], user: int, label: str
) -> InteractionRecord:
    record = await t.sandbox.click_button(
        int(message["channel_id"]), int(message["id"]), user, _buttons(message)[label]
    )
    await record.wait_final()
    return record


def _threads(t: Transcript) -> list[dict[str, Any]]:
    return [
        th for th in t.sandbox.threads_in(t.world.guild_id) if th["name"].startswith("Coffee chat")
    ]


async def scene_matching_round(t: Transcript) -> None:
    w, s, app = t.world, t.sandbox, t.app
    t.scene("Coffee chats: 31 students join, the instructor previews, swaps and posts a round")
    for index, student in enumerate(w.student_ids):
        values = _PROFILES[index % len(_PROFILES)]
        await app.services.get(ProfileService).set(
            w.guild_id, student, values, visibility=_VISIBILITY[index % len(_VISIBILITY)]
        )
    await app.services.get(ProfileService).set_preference(
        w.guild_id, w.student_ids[0], "work", "similar"
    )
    first = w.student_ids[0]
    t.action(first, "runs /match join")
    record = await s.invoke_slash(w.guild_id, w.general_channel_id, first, "match join")
    await record.wait_final()
    t.answer(record)
    for student in w.student_ids[1:]:
        joined = await s.invoke_slash(w.guild_id, w.general_channel_id, student, "match join")
        await joined.wait_final()
    t.out(f"  (the other {len(w.student_ids) - 1} students join too)")

    t.action(w.instructor_id, "runs /course match run")
    run = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course match run"
    )
    await run.wait_final()
    t.answer(run)
    preview = _last_ephemeral(t, w.instructor_id, "Post these")
    proposal_groups = await app.db.fetchall(
        "SELECT g.group_id FROM match_groups g JOIN match_rounds r ON r.round_id = g.round_id "
        "WHERE r.status = 'proposed' ORDER BY g.position LIMIT 2"
    )
    a_group = await app.services.get(MatchingService).store.group(
        w.guild_id, proposal_groups[0]["group_id"]
    )
    b_group = await app.services.get(MatchingService).store.group(
        w.guild_id, proposal_groups[1]["group_id"]
    )
    assert a_group is not None and b_group is not None
    x, y = a_group.user_ids[0], b_group.user_ids[0]
    t.action(w.instructor_id, f"swaps {t.name(x)} and {t.name(y)} in the preview")
    swap = await s.select(
        int(preview["channel_id"]),
        int(preview["id"]),
        w.instructor_id,
        _buttons(preview)["Swap two people…"],
        [str(x), str(y)],
    )
    await swap.wait_final()
    t.answer(swap)
    t.action(w.instructor_id, "presses “Post these”")
    posted = await _click(t, preview, w.instructor_id, "Post these")
    t.answer(posted)


async def scene_matching_thread(t: Transcript) -> None:
    w, s, app = t.world, t.sandbox, t.app
    t.scene("Coffee chats: a match thread, “Did you meet?”, a re-match and a report to staff")
    threads = _threads(t)
    thread = threads[0]
    members = [u for u in s.thread_members(int(thread["id"])) if u != s.bot_user_id]
    t.out(f"  (private thread “{thread['name']}” — only its members and moderators see it)")
    t.channel_post(thread["name"], s.messages(int(thread["id"]))[0])

    t.out("  (halfway through the round, CohortBot asks every group)")
    await app.services.get(MatchingService).tick(app.clock.now() + timedelta(days=4))
    await app.outbox.drain()  # "Did you meet?" goes out through the outbox
    followup = s.messages(int(thread["id"]))[-1]
    t.channel_post(thread["name"], followup)
    t.action(members[0], "clicks “Met”")
    t.answer(await _click(t, followup, members[0], "Met"))

    # Two students in other groups whose partners didn't respond.
    waiting: list[int] = []
    for other in threads[1:3]:
        user = next(u for u in s.thread_members(int(other["id"])) if u != s.bot_user_id)
        message = s.messages(int(other["id"]))[-1]
        t.action(user, f"clicks “Couldn't connect” in “{other['name']}”")
        t.answer(await _click(t, message, user, "Couldn't connect"))
        offer = _last_ephemeral(t, user, "Find me a new partner")
        t.action(user, "clicks “Find me a new partner”")
        t.answer(await _click(t, offer, user, "Find me a new partner"))
        waiting.append(user)

    reporter = members[-1]
    intro = s.messages(int(thread["id"]))[0]
    t.action(reporter, "clicks “Report to staff” in their thread")
    t.answer(await _click(t, intro, reporter, "Report to staff"))
    choice = _last_ephemeral(t, reporter, "Report only")
    t.action(reporter, "chooses “Report only”")
    t.answer(await _click(t, choice, reporter, "Report only"))
    leads = s.find_channel(w.guild_id, "cohort-leads")
    if leads is not None:
        t.channel_post("cohort-leads", s.messages(leads)[-1])


async def scene_matching_departure(t: Transcript) -> None:
    w, s, app = t.world, t.sandbox, t.app
    t.scene("Coffee chats: a student leaves the server mid-round")
    thread = next(
        th
        for th in _threads(t)
        if len([u for u in s.thread_members(int(th["id"])) if u != s.bot_user_id]) == 2
        and not th["thread_metadata"]["archived"]
        and len(s.messages(int(th["id"]))) == 2  # nobody there answered "Did you meet?" yet
    )
    leaver, partner = (u for u in s.thread_members(int(thread["id"])) if u != s.bot_user_id)
    t.out(f"  ({t.name(leaver)} leaves the server; CohortBot takes them out of “{thread['name']}”)")
    await s.remove_member(w.guild_id, leaver)
    await s.wait_for(lambda: any("left the server" in m["content"] for m in s.dm_messages(partner)))
    await app.outbox.drain()
    told = next(m for m in s.dm_messages(partner) if "left the server" in m["content"])
    t.channel_post(f"DM to {t.name(partner)}", told)
    t.action(partner, "clicks “Priority next round”")
    t.answer(await _click(t, told, partner, "Priority next round"))


SCENES = [scene_matching_round, scene_matching_thread, scene_matching_departure]
