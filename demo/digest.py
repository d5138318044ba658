"""The digest's demo scene: the week ends with the leads' digest. Prints the embeds, writes
the chart and the CSV to the demo's output folder, shows a lead pressing "I'll reach out", and an
instructor marking a student from the compact part of the list with /digest follow-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogs.digest.rules import ATTENTION_LABEL, LIST_LABEL

if TYPE_CHECKING:
    from demo.run import Transcript


def _bot_messages(t: Transcript, channel_id: int) -> list[dict[str, Any]]:
    return [
        m for m in t.sandbox.messages(channel_id) if int(m["author"]["id"]) == t.sandbox.bot_user_id
    ]


async def scene_digest(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("The week ends: the cohort leads' digest")
    leads = s.find_channel(w.guild_id, "cohort-leads")
    if leads is None:
        t.out("  (no leads channel: skipped)")
        return
    # What the README tells admins: let the lead role see /digest in Integrations.
    s.allow_command_for_everyone(w.guild_id, "digest")
    t.out(
        "  (an admin has let the @Cohort Lead role see /digest in Server Settings → Integrations)"
    )
    t.action(w.instructor_id, "runs /course digest schedule day:Monday time:09:00")
    record = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "course digest schedule",
        {"day": 0, "time": "09:00"},
    )  # fmt: skip
    await record.wait_final()
    t.answer(record)
    before = len(_bot_messages(t, leads))
    t.action(w.lead_id, "runs /digest now (the scheduled one would say the same on Monday)")
    record = await s.invoke_slash(w.guild_id, w.general_channel_id, w.lead_id, "digest now")
    await record.wait_final()
    t.answer(record)
    posted = _bot_messages(t, leads)[before:]
    if not posted:
        return
    for message in posted[:2]:
        t.channel_post("cohort-leads", message)
    # A larger cohort's list ends with compact pages: one line per student, no buttons.
    list_pages = [
        m for m in posted[2:] if str(m["embeds"][0].get("title", "")).startswith(LIST_LABEL)
    ]
    if len(posted) - 2 - len(list_pages) > 0:
        t.out(f"    … and {len(posted) - 2 - len(list_pages)} more page(s) with buttons")
    for message in list_pages[-1:]:
        t.channel_post("cohort-leads", message)

    out_dir = t.out_dir or Path("demo-output")
    out_dir.mkdir(parents=True, exist_ok=True)
    for attachment in posted[0].get("attachments") or []:
        target = out_dir / str(attachment["filename"])
        target.write_bytes(s.attachment_bytes(int(attachment["id"])))
        t.out(f"  (saved {target})")

    page = next(
        (m for m in posted if str(m["embeds"][0].get("title", "")).startswith(ATTENTION_LABEL)),
        None,
    )
    buttons = [c for row in (page or {}).get("components") or [] for c in row.get("components", [])]
    if page is None or not buttons:
        return
    first = buttons[0]
    t.action(w.lead_id, f"presses “{first['label']}” in #cohort-leads")
    click = await s.click_button(leads, int(page["id"]), w.lead_id, str(first["custom_id"]))
    await click.wait_final()
    t.answer(click)
    updated = s.message(int(page["id"]))
    if updated and updated.get("embeds"):
        field = updated["embeds"][0]["fields"][0]
        t.out(f"  (the row now reads: {field['name']} — " + field["value"].splitlines()[-1] + ")")

    # A student on a list page (no buttons): another lead uses /digest follow-up.
    found = (
        re.search(r"<@(\d+)>", list_pages[-1]["embeds"][0]["description"]) if list_pages else None
    )
    if found is None:
        return
    student = int(found.group(1))
    t.action(w.instructor_id, f"runs /digest follow-up student:@{t.name(student)} state:Contacted")
    record = await s.invoke_slash(
        w.guild_id, w.general_channel_id, w.instructor_id, "digest follow-up",
        {"student": student, "state": "contacted"},
    )  # fmt: skip
    await record.wait_final()
    t.answer(record)
    await s.wait_for(lambda: len(_bot_messages(t, leads)) > len(posted) + before)
    t.channel_post("cohort-leads", _bot_messages(t, leads)[-1])


SCENES = [scene_digest]
