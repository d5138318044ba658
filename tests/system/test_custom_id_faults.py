"""Forged, foreign and junk custom_ids on every persistent button family: refused or ignored
(or, for "Write my introduction", the presser's own empty form), never an error, never a
change. A custom_id is only a lookup key; anyone can replay one.

(The real ids replayed by the wrong person are in the feature tests: test_digest, test_coffee,
test_intros, test_matching; the staff-only families in test_authorization.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sandbox.harness import BOT_ROLE_PERMISSIONS
from sandbox.server import InteractionRecord, SandboxServer
from tests.support.course import Course, app_of
from tests.support.snapshots import database_snapshot, diff, sandbox_snapshot


def message_with(s: SandboxServer, channel_id: int, custom_ids: list[str]) -> int:
    rows = [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 1, "label": str(i), "custom_id": cid}
                for i, cid in enumerate(custom_ids[start : start + 5])
            ],
        }
        for start in range(0, len(custom_ids), 5)
    ]
    message = s.world.build_message(
        channel_id, s.bot_user_id, {"content": "buttons", "components": rows}
    )
    s.world.store_message(message)
    return int(message["id"])


async def outcome(cid: str, click: InteractionRecord) -> str:
    """ "ignored" (no handler claims it) or the private refusal's text."""
    try:
        await click.wait_final(2.0)
    except TimeoutError:
        return "ignored"
    if click.modal is not None:
        # Only "Write my introduction" opens a form: always the presser's own, never prefilled
        # with the person the button was posted for.
        assert cid.startswith("cohortbot:intro:write:"), f"{cid} opened a form"
        return "own form: " + json.dumps(click.modal)
    replies: list[dict[str, Any]] = [r for r in click.responses if r["kind"] != "deferred"]
    assert all(r.get("ephemeral") for r in replies), (cid, replies)
    return click.text()


async def test_junk_forged_and_foreign_ids_change_nothing(course: Course) -> None:
    await course.setup_course()
    s, w, gid = course.sandbox, course.world, course.guild_id
    app = app_of(course)
    student, classmate = w.student_ids[:2]
    # A server the student is not in, with the bot in it.
    stranger_owner = s.create_user("Elsewhere Owner")
    foreign = s.create_guild(
        "Elsewhere", owner_id=stranger_owner, bot_permissions=BOT_ROLE_PERMISSIONS.value
    )
    bot = course.runner.bot
    assert bot is not None
    await s.wait_for(lambda: bot.get_guild(foreign) is not None)
    cohort = (await app.guild_settings.cohorts(gid))[0]
    in_server = [
        # digest follow-up: no such cohort; a cohort of this server, but clicked by a student
        f"cohortbot:digest:reach:99999:{classmate}",
        f"cohortbot:digest:excused:{cohort.cohort_id}:{classmate}",
        # weekly pulse: no such pulse; a week that never was
        "cohortbot:pulse:99999:20260907:great",
        "cohortbot:pulse:1:19700105:okay",
        # intro write: somebody else's form; nobody's
        f"cohortbot:intro:write:{classmate}",
        "cohortbot:intro:write:0",
        # coffee chats: no such group or round; another server's
        f"cohortbot:match:report:{gid}:99999",
        f"cohortbot:match:out:{gid}:99999:met",
        f"cohortbot:match:after:{gid}:99999:rematch",
        f"cohortbot:match:out:{foreign}:1:met",
        f"cohortbot:match:stay:{foreign}:pause",
        # nudges, pressed inside the server and for another server
        f"cohortbot:nudges:offer:yes:{foreign}",
        f"cohortbot:nudges:stop:{foreign}",
        # not ours at all, or ours but malformed
        "cohortbot:nope",
        "cohortbot:digest:reach:abc:def",
        "cohortbot:pulse:1:2026:" + "x" * 40,
        "garbage",
        # ids past SQLite's 64-bit integers (Discord's own never are)
        f"cohortbot:match:out:{gid}:{'9' * 20}:met",
        f"cohortbot:match:report:{'9' * 20}:1",
        f"cohortbot:match:review:{gid}:{'9' * 20}",
        f"cohortbot:digest:reach:{'9' * 20}:{'9' * 20}",
        f"cohortbot:term:close:{'9' * 20}",
        f"cohortbot:pulse:{'9' * 20}:20260907:great",
        f"cohortbot:nudges:stop:{'9' * 20}",
    ]
    in_dm = [
        # the DM buttons, naming a server the student is not in, or none at all
        f"cohortbot:nudges:offer:yes:{foreign}",
        f"cohortbot:nudges:stop:{foreign}",
        "cohortbot:nudges:offer:yes:0",
        f"cohortbot:match:stay:{foreign}:stay",
        f"cohortbot:term:kit:{cohort.cohort_id + 1000}",
    ]
    general = w.general_channel_id
    dm = s.dm_channel_of(student)
    in_server_message = message_with(s, general, in_server)
    in_dm_message = message_with(s, dm, in_dm)

    db_before = await database_snapshot(app)
    world_before = sandbox_snapshot(s, gid)
    clicks = {
        f"server {cid}": (cid, await s.click_button(general, in_server_message, student, cid))
        for cid in in_server
    } | {f"dm {cid}": (cid, await s.click_button(dm, in_dm_message, student, cid)) for cid in in_dm}
    # Waited for together: the ignored ones cost one timeout, not one each.
    answers = await asyncio.gather(*(outcome(cid, click) for cid, click in clicks.values()))
    results = dict(zip(clicks, answers, strict=True))
    # The two welcome buttons open the presser's own intro form (by design anyone may press
    # one): that is a use, so exactly those two presses count; every other press was refused
    # or ignored and counts as nothing.
    after = await database_snapshot(app, ignore_activity_of=student, own_use=("button",))
    assert diff(db_before, after) == []
    presses = await app.db.fetchall(
        "SELECT SUM(events) AS n FROM activity WHERE guild_id = ? AND user_id = ? AND kind = ?",
        (gid, student, "button"),
    )
    assert presses[0]["n"] == 2
    assert diff(world_before, sandbox_snapshot(s, gid)) == []
    assert s.messages(s.find_channel(foreign, "general") or 0) == []
    # Nothing looks like success: every answer is a refusal or silence.
    for label, text in results.items():
        lowered = text.casefold()
        assert not any(word in lowered for word in ("noted", "thanks for", "you're in")), (
            label,
            text,
        )
    classmate_name = w.names[classmate]
    assert classmate_name not in results[f"server cohortbot:intro:write:{classmate}"]
    # The opt-in buttons were refused with words, not silently dropped.
    assert results[f"dm cohortbot:nudges:offer:yes:{foreign}"] != "ignored"
    assert results["server garbage"] == "ignored"
