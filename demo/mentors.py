"""The alumni-mentor demo scene: the term closes, an alumna offers to mentor from the
thank-you, a student of the next cohort finds her with /mentor find, asks, and she accepts:
a private thread for the two of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cogs.profiles import ProfileService

if TYPE_CHECKING:
    from demo.run import Transcript


def _ids(message: dict[str, Any]) -> list[str]:
    return [
        str(c["custom_id"])
        for row in message.get("components") or []
        for c in row.get("components") or []
        if c.get("custom_id")
    ]


def _with(messages: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    for message in reversed(messages):
        if any(i.startswith(prefix) for i in _ids(message)):
            return message
    raise AssertionError(f"no message with a {prefix!r} button")


def _id(message: dict[str, Any], prefix: str) -> str:
    return next(i for i in _ids(message) if i.startswith(prefix))


async def scene_mentors(t: Transcript) -> None:
    w, s, app = t.world, t.sandbox, t.app
    t.scene("Alumni mentors: the term closes, an alumna offers to mentor the next cohort")
    coffee = s.find_channel(w.guild_id, "coffee-shop")
    assert coffee is not None
    t.action(w.instructor_id, "runs /course close-term and confirms")
    asked = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course close-term"
    )
    await asked.wait_final()
    confirm = _with(s.ephemeral_messages(w.instructor_id), "cohortbot:term:close:")
    closed = await s.click_button(
        int(confirm["channel_id"]),
        int(confirm["id"]),
        w.instructor_id,
        _id(confirm, "cohortbot:term:close:"),
    )
    await closed.wait_responses(2)
    await app.outbox.drain()
    thanks = _with(s.messages(coffee), "cohortbot:mentors:offer:")
    t.channel_post("coffee-shop", thanks)

    alumna = w.student_ids[0]
    t.action(alumna, "presses “Be a mentor for the next cohort”")
    opened = await s.click_button(
        coffee, int(thanks["id"]), alumna, _id(thanks, "cohortbot:mentors:offer:")
    )
    await opened.wait_response()
    t.answer(opened)
    t.action(
        alumna,
        "picks assignments and balancing work and family, 2 mentees, shows her work situation",
    )
    submitted = await s.submit_modal(
        opened,
        alumna,
        {
            "mentor_areas": ["assignments", "work_family"],
            "mentor_note": "Ask me about the capstone project",
            "mentor_capacity": ["2"],
            "mentor_items": ["work"],
        },
    )
    await submitted.wait_final()
    t.answer(submitted)

    t.scene("Alumni mentors: a student of the next cohort finds and meets her")
    role = s.create_role(w.guild_id, "Cohort 2")
    newcomer = s.create_user("Noor")
    w.names[newcomer] = "Noor"
    await s.add_member(w.guild_id, newcomer, roles=[role])
    t.action(w.instructor_id, "runs /course cohort add name:Cohort 2 role:@Cohort 2")
    added = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course cohort add",
        {"name": "Cohort 2", "role": role},
    )  # fmt: skip
    await added.wait_final()
    t.answer(added)
    t.out(f"  ({t.name(newcomer)} joins Cohort 2: works full-time, school-age children)")
    profiles = app.services.get(ProfileService)
    await profiles.set(
        w.guild_id, newcomer, {"work": "full_time", "caregiving": "school_age_children"}
    )
    await profiles.set_preference(w.guild_id, newcomer, "work", "similar")

    t.action(newcomer, "runs /mentor find")
    found = await s.invoke_slash(w.guild_id, w.general_channel_id, newcomer, "mentor find")
    await found.wait_final()
    t.answer(found)
    suggestions = _with(s.ephemeral_messages(newcomer), "cohortbot:mentors:ask:")
    t.action(newcomer, "presses “Ask 1”")
    sent = await s.click_button(
        int(suggestions["channel_id"]),
        int(suggestions["id"]),
        newcomer,
        _id(suggestions, "cohortbot:mentors:ask:"),
    )
    await sent.wait_final()
    t.answer(sent)
    await app.outbox.drain()

    request = _with(s.dm_messages(alumna), "cohortbot:mentors:accept:")
    t.out(f"◀ DM to {t.name(alumna)}:")
    for line in str(request["content"]).splitlines():
        t.out(f"    {line}")
    t.action(alumna, "presses “Accept” in her DM")
    accepted = await s.click_button(
        int(request["channel_id"]),
        int(request["id"]),
        alumna,
        _id(request, "cohortbot:mentors:accept:"),
    )
    await accepted.wait_final()
    t.answer(accepted)
    await app.outbox.drain()
    thread = next(
        th for th in s.threads_in(w.guild_id) if str(th["name"]).startswith("Mentor chat")
    )
    t.out(f"  (private thread “{thread['name']}” — only the two of them and moderators see it)")
    for message in s.messages(int(thread["id"])):
        t.channel_post(str(thread["name"]), message)


SCENES = [scene_mentors]
