"""The coffee shop's demo scenes: a celebration, a rough week without a name, kudos, the
social question, a circle, the weekly pulse (with "Please reach out to me") and the
milestone roundup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.server import InteractionRecord

if TYPE_CHECKING:
    from demo.run import Transcript


def _modal_input(record: InteractionRecord) -> str:
    assert record.modal is not None, "the bot opened no form"
    for row in record.modal.get("components") or []:
        for component in [*(row.get("components") or []), row.get("component") or {}]:
            if component.get("type") == 4:
                return str(component["custom_id"])
    raise AssertionError("the form has no text input")


async def _slash(
    t: Transcript, user: int, command: str, options: dict[str, object] | None = None
) -> InteractionRecord:
    w = t.world
    record = await t.sandbox.invoke_slash(w.guild_id, w.general_channel_id, user, command, options)
    await record.wait_final()
    return record


def _coffee_id(t: Transcript) -> int:
    found = t.sandbox.find_channel(t.world.guild_id, "coffee-shop")
    assert found is not None, "the coffee shop channel is missing"
    return found


def _show_new(t: Transcript, channel_name: str, channel_id: int, seen: int) -> int:
    messages = t.sandbox.messages(channel_id)
    for message in messages[seen:]:
        t.channel_post(channel_name, message)
        reactions = [r["emoji"]["name"] for r in message.get("reactions") or []]
        if reactions:
            t.out("    (reactions: " + " ".join(reactions) + ")")
    return len(messages)


async def _share(
    t: Transcript, user: int, command: str, options: dict[str, object], text: str, shown: str
) -> None:
    t.action(user, shown)
    opened = await _slash(t, user, command, options)
    t.answer(opened)
    t.out(f"  ({t.name(user)} types: “{text}”)")
    submitted = await t.sandbox.submit_modal(opened, user, {_modal_input(opened): text})
    await submitted.wait_final()
    t.answer(submitted)


async def scene_coffee_celebrate_and_share(t: Transcript) -> None:
    w = t.world
    coffee = _coffee_id(t)
    leads = t.sandbox.find_channel(w.guild_id, "cohort-leads")
    t.scene("The coffee shop: a win, a rough week, and kudos")
    seen = len(t.sandbox.messages(coffee))
    seen_leads = len(t.sandbox.messages(leads)) if leads else 0
    await _share(
        t,
        w.student_ids[0],
        "celebrate",
        {"kind": "course win"},
        "My first pandas notebook ran end to end without a single error!",
        "runs /celebrate kind:course win",
    )
    await _share(
        t,
        w.student_ids[3],
        "share",
        {"kind": "rough week", "without_my_name": True},
        "My dad is in hospital and I'm behind on everything. Just needed to say it somewhere.",
        "runs /share kind:rough week without_my_name:True",
    )
    t.action(w.student_ids[1], "runs /kudos member:@Amara Okafor reason:…")
    record = await _slash(
        t,
        w.student_ids[1],
        "kudos",
        {"member": w.student_ids[0], "reason": "Walked me through groupby on a Sunday night"},
    )
    t.answer(record)
    _show_new(t, "coffee-shop", coffee, seen)
    if leads:
        t.out("  (in the private leads channel:)")
        _show_new(t, "cohort-leads", leads, seen_leads)


async def scene_coffee_question_and_circle(t: Transcript) -> None:
    w = t.world
    coffee = _coffee_id(t)
    t.scene("The coffee shop: this week's social question and a circle")
    t.action(w.instructor_id, "runs /course coffee schedule what:question day:Tuesday time:09:00")
    t.answer(
        await _slash(
            t,
            w.instructor_id,
            "course coffee schedule",
            {"what": "question", "day": 1, "time": "09:00"},
        )
    )
    seen = len(t.sandbox.messages(coffee))
    t.action(w.instructor_id, "runs /course coffee post what:question (posting now, for the demo)")
    t.answer(await _slash(t, w.instructor_id, "course coffee post", {"what": "question"}))
    _show_new(t, "coffee-shop", coffee, seen)
    t.action(w.instructor_id, "runs /course circle add name:Working parents")
    t.answer(await _slash(t, w.instructor_id, "course circle add", {"name": "Working parents"}))
    student = w.student_ids[5]
    t.action(student, "runs /circle list")
    t.answer(await _slash(t, student, "circle list"))
    t.action(student, "runs /circle join name:Working parents")
    t.answer(await _slash(t, student, "circle join", {"name": "Working parents"}))
    for thread in t.sandbox.threads_in(w.guild_id):
        if thread["name"] == "Working parents":
            members = [t.name(u) for u in t.sandbox.thread_members(int(thread["id"]))]
            t.out(
                f"  (private thread “{thread['name']}”, invitable: "
                f"{thread['thread_metadata']['invitable']}; members: {', '.join(members)})"
            )


async def scene_coffee_pulse_and_milestones(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    coffee = _coffee_id(t)
    leads = s.find_channel(w.guild_id, "cohort-leads")
    t.scene("The coffee shop: the weekly pulse and the milestone roundup")
    seen = len(s.messages(coffee))
    t.action(w.instructor_id, "runs /course coffee post what:pulse")
    t.answer(await _slash(t, w.instructor_id, "course coffee post", {"what": "pulse"}))
    _show_new(t, "coffee-shop", coffee, seen)
    pulse: dict[str, Any] = s.messages(coffee)[-1]
    buttons = {
        c["label"]: c["custom_id"]
        for row in pulse.get("components") or []
        for c in row["components"]
    }
    seen_leads = len(s.messages(leads)) if leads else 0
    for student, label in (
        (w.student_ids[0], "Going well"),
        (w.student_ids[1], "Okay"),
        (w.student_ids[2], "Struggling a bit"),
        (w.student_ids[2], "Please reach out to me"),
        (w.student_ids[0], "Really hard"),
    ):
        t.action(student, f"clicks [{label}]")
        record = await s.click_button(coffee, int(pulse["id"]), student, buttons[label])
        await record.wait_final()
        t.answer(record)
    if leads:
        t.out("  (in the private leads channel:)")
        _show_new(t, "cohort-leads", leads, seen_leads)

    student = w.student_ids[0]
    t.action(student, "runs /coffee settings milestones:True")
    t.answer(await _slash(t, student, "coffee settings", {"milestones": True}))
    t.action(w.instructor_id, "runs /course coffee completed member:@Amara Okafor")
    t.answer(await _slash(t, w.instructor_id, "course coffee completed", {"member": student}))
    for message in s.dm_messages(student)[-1:]:
        t.out(f"◀ DM to {t.name(student)}: {message['content']}")
    seen = len(s.messages(coffee))
    t.action(w.instructor_id, "runs /course coffee post what:roundup (normally Friday's schedule)")
    t.answer(await _slash(t, w.instructor_id, "course coffee post", {"what": "roundup"}))
    _show_new(t, "coffee-shop", coffee, seen)


SCENES = [
    scene_coffee_celebrate_and_share,
    scene_coffee_question_and_circle,
    scene_coffee_pulse_and_milestones,
]
