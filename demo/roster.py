"""The roster's demo scene: an instructor imports the LMS roster (preview, then Apply) and
gets the join codes; a student who was not on the server yet arrives and joins with a code
from the welcome's button; the lead's digest now lists who is still missing."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import FakeClock

if TYPE_CHECKING:
    from demo.run import Transcript

ROSTER = """name,email,student_id,section
Kofi Mensah,kofi.mensah@example.edu,S3001,Cohort 1
Dana Whitfield,dana.whitfield@example.edu,S3002,Cohort 1
Inês Duarte,ines.duarte@example.edu,S3003,Cohort 1
"""


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        str(c.get("label")): str(c["custom_id"])
        for row in message.get("components") or []
        for c in row.get("components") or []
        if c.get("custom_id")
    }


def _codes(record: Any) -> dict[str, str]:
    for response in record.responses:
        for upload in response.get("files") or []:
            rows = csv.DictReader(io.StringIO(bytes(upload["data"]).decode("utf-8-sig")))
            return {row["lms_id"]: row["code"] for row in rows}
    return {}


async def scene_roster(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("The roster: who is enrolled but not here yet")
    t.action(w.instructor_id, "runs /course roster import file:roster.csv (exported from the LMS)")
    record = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course roster import",
        {"file": ("roster.csv", ROSTER.encode("utf-8"))},
    )  # fmt: skip
    await record.wait_final()
    t.answer(record)
    preview = next(
        (m for m in reversed(s.ephemeral_messages(w.instructor_id)) if "Apply" in _buttons(m)),
        None,
    )
    if preview is None:
        return
    t.action(w.instructor_id, "presses “Apply”")
    click = await s.click_button(
        int(preview["channel_id"]), int(preview["id"]), w.instructor_id, _buttons(preview)["Apply"]
    )
    await click.wait_final()
    t.answer(click)
    t.action(w.instructor_id, "runs /course roster codes")
    record = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course roster codes"
    )
    await record.wait_final()
    t.answer(record)
    codes = _codes(record)
    t.out("  (the instructor mail-merges the codes from the LMS; Kofi gets his by email)")

    intros = s.find_channel(w.guild_id, "introductions")
    if intros is None or "S3001" not in codes:
        return
    kofi = s.create_user("Kofi Mensah")
    w.names[kofi] = "Kofi Mensah"
    before = len(s.messages(intros))
    t.action(kofi, "joins the server")
    await s.add_member(w.guild_id, kofi)
    await s.wait_for(lambda: len(s.messages(intros)) > before)
    welcome = s.messages(intros)[-1]
    t.channel_post("introductions", welcome)
    t.action(kofi, "presses “Join with a code” and types the code from the email")
    opened = await s.click_button(intros, int(welcome["id"]), kofi, "cohortbot:roster:join")
    await opened.wait_final()
    t.answer(opened)
    typed = codes["S3001"].lower().replace("-", " ")
    done = await s.submit_modal(opened, kofi, {"cohortbot:roster:join:code": typed})
    await done.wait_final()
    t.answer(done)

    leads = s.find_channel(w.guild_id, "cohort-leads")
    if leads is None:
        return
    clock = t.app.clock
    if isinstance(clock, FakeClock):
        # A digest of its own (the one earlier in the week has the same instant otherwise).
        clock.advance(timedelta(minutes=10))
    before = len(s.messages(leads))
    t.action(w.lead_id, "runs /digest now (ten minutes later)")
    record = await s.invoke_slash(w.guild_id, w.general_channel_id, w.lead_id, "digest now")
    await record.wait_final()
    t.answer(record)

    def missing() -> list[dict[str, Any]]:
        return [
            m
            for m in s.messages(leads)[before:]
            if "not on the server yet" in str((m.get("embeds") or [{}])[0])
        ]

    await s.wait_for(lambda: bool(missing()))
    t.out("    … (the digest itself, as above, then:)")
    t.channel_post("cohort-leads", missing()[-1])


SCENES = [scene_roster]
