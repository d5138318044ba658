"""Digest steps: a cohort lead, a drifting student, and the digest's messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cogs.digest.rules import ATTENTION_LABEL
from tests.support.course import Course


async def make_lead(course: Course) -> int:
    s, gid = course.sandbox, course.guild_id
    role = s.find_role(gid, "Cohort Lead")
    assert role is not None
    await s.add_member_role(gid, course.world.lead_id, role)
    # What the README tells admins to do: let the lead role see /digest.
    s.allow_command_for_everyone(gid, "digest")
    bot = course.runner.bot
    assert bot is not None
    await s.wait_for(
        lambda: any(
            r.id == role
            for r in bot.get_guild(gid).get_member(course.world.lead_id).roles  # type: ignore[union-attr]
        )
    )
    return role


async def drift(course: Course, student: int, days: int = 20) -> None:
    """`student` speaks once in the coffee shop, then `days` pass in silence."""
    app = course.runner.app
    assert app is not None
    coffee = course.sandbox.find_channel(course.guild_id, "coffee-shop")
    assert coffee
    await course.sandbox.send_message(coffee, student, "Hello!")
    await course.sandbox.wait_for(lambda: app.activity_recorder.pending >= 1)
    await app.activity_recorder.flush()
    course.clock.advance(timedelta(days=days))


def leads_channel(course: Course) -> int:
    channel = course.sandbox.find_channel(course.guild_id, "cohort-leads")
    assert channel is not None
    return channel


def digest_messages(course: Course) -> list[dict[str, Any]]:
    return [
        m
        for m in course.sandbox.messages(leads_channel(course))
        if int(m["author"]["id"]) == course.sandbox.bot_user_id
    ]


def attention_pages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        m
        for m in messages
        if m.get("embeds") and str(m["embeds"][0].get("title", "")).startswith(ATTENTION_LABEL)
    ]


def button_ids(message: dict[str, Any]) -> list[str]:
    return [
        str(c["custom_id"])
        for row in message.get("components") or []
        for c in row.get("components", [])
        if c.get("custom_id")
    ]
