"""What the prompt service's parts share: kinds and limits, the wiring protocols, the post
result, links and labels."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol

import discord

from bot.calendar import WeekStatus
from bot.templates import DATA_DIR
from cogs.prompts.repository import Answer, PromptPost
from cogs.prompts.rules import PromptSpec, validate_prompt

__all__ = [
    "ALERTS_ROLE_NAME",
    "ANSWER_TEXT_LIMIT",
    "DAY_NAMES",
    "FOLLOWUP_KIND",
    "FOLLOWUP_WEEKDAY",
    "GENERIC_FOLLOW_UPS",
    "LEFT_ALONE_KIND",
    "NOTICE_KIND",
    "NUDGE_NOT_ANSWERED",
    "NUDGE_NO_REPLIES",
    "OUTBOX_KEY_PREFIX",
    "POST_KIND",
    "MilestoneSink",
    "PostResult",
    "PostStatus",
    "WeekSource",
    "answer_link",
    "channel_problem",
    "day_name",
    "describe_result",
    "load_default_bank",
    "post_link",
    "text_place",
    "upcoming_key",
    "week_label",
]


POST_KIND: Final = "prompt"
FOLLOWUP_KIND: Final = "prompt_followup"
NOTICE_KIND: Final = "prompt_notice"
LEFT_ALONE_KIND: Final = "prompt_left_alone"
OUTBOX_KEY_PREFIX: Final = "post:"
NUDGE_NO_REPLIES: Final = "prompt_noreply"
NUDGE_NOT_ANSWERED: Final = "prompt_unanswered"
ALERTS_ROLE_NAME: Final = "Prompt alerts"
ANSWER_TEXT_LIMIT: Final = 1800
FOLLOWUP_WEEKDAY: Final = 5  # Saturday 00:00: two days before the week ends (Sunday 24:00)
GENERIC_FOLLOW_UPS: Final = (
    "What made you think of that?",
    "How would that look if…?",
    "What would you try next?",
)
DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def load_default_bank(path: Path | None = None) -> list[PromptSpec]:
    raw = json.loads((path or DATA_DIR / "prompts.json").read_text(encoding="utf-8"))
    return [
        validate_prompt(
            item["text"],
            theme=item.get("theme"),
            week=item.get("week"),
            follow_ups=item.get("follow_ups"),
        )
        for item in raw["prompts"]
    ]


class WeekSource(Protocol):
    async def week_of(self, guild_id: int, cohort_id: int, instant: datetime) -> WeekStatus: ...


class MilestoneSink(Protocol):
    async def reached(self, guild_id: int, user_id: int, milestone: str) -> bool: ...


def upcoming_key(cohort_id: int, week_key: str) -> str:
    return f"prompt:{cohort_id}:{week_key}"


PostStatus = Literal[
    "posted",
    "already_posted",
    "not_running",
    "break",
    "empty_bank",
    "no_channel",
    "channel_missing",
    "no_permission",
    "skipped",
    "failed",
]


@dataclass
class PostResult:
    status: PostStatus
    week: WeekStatus
    posts: list[PromptPost] = field(default_factory=list)
    detail: str = ""
    #: the outbox rows queued for ``posted`` (one per group)
    row_ids: list[int] = field(default_factory=list)


def week_label(week: WeekStatus) -> str:
    if week.number is not None:
        return f"Week {week.number}"
    if week.week_start is not None:
        return f"Week of {week.week_start.strftime('%b')} {week.week_start.day}"
    return "This week"


def post_link(guild_id: int, post: PromptPost) -> str:
    if post.is_forum:
        return f"https://discord.com/channels/{guild_id}/{post.message_id}"
    return f"https://discord.com/channels/{guild_id}/{post.channel_id}/{post.message_id}"


def answer_link(guild_id: int, answer: Answer) -> str:
    return f"https://discord.com/channels/{guild_id}/{answer.place_id}"


def channel_problem(channel: discord.abc.GuildChannel, me: discord.Member) -> str | None:
    """What the bot is missing to run prompts in ``channel`` (None when nothing)."""
    if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
        return "Prompts need a text channel or a forum channel."
    perms = channel.permissions_for(me)
    needed = [
        ("view_channel", "View Channel"),
        ("send_messages", "Send Messages"),
        ("send_messages_in_threads", "Send Messages in Threads"),
        ("read_message_history", "Read Message History"),
    ]
    if isinstance(channel, discord.TextChannel):
        needed.append(("create_public_threads", "Create Public Threads"))
    missing = [label for attr, label in needed if not getattr(perms, attr)]
    if missing:
        return f"I'm missing {', '.join(missing)} in {channel.mention}."
    return None


def describe_result(result: PostResult, guild_id: int) -> str:
    """The instructor's answer to post-now."""
    label = week_label(result.week)
    if result.status == "posted":
        groups = f" to {len(result.posts)} groups" if len(result.posts) > 1 else ""
        if any(p.message_id is None for p in result.posts):
            return (
                f"Queued the {label} prompt{groups}: it goes out as soon as Discord lets me "
                "(see /course status)."
            )
        links = " ".join(post_link(guild_id, p) for p in result.posts)
        return f"Posted the {label} prompt{groups}: {links}"
    texts: dict[str, str] = {
        "not_running": "The course isn't running this week (see the calendar), so nothing was "
        "posted.",
        "break": "This is a break week, so nothing was posted.",
        "empty_bank": "The prompt bank is empty. Add prompts with /course prompt add or import.",
        "no_channel": "Set a discussion channel first with /course prompt schedule.",
        "channel_missing": "The discussion channel was deleted. Pick a new one with "
        "/course prompt schedule.",
        "no_permission": f"I can't post there: {result.detail}",
        "skipped": "This week's prompt was skipped from /course upcoming.",
        "failed": f"Discord refused the post ({result.detail}). Nothing was left half-posted.",
    }
    return texts.get(result.status, result.status)


def day_name(weekday: int) -> str:
    return DAY_NAMES[weekday]


async def text_place(
    guild: discord.Guild, channel_id: int
) -> discord.TextChannel | discord.Thread | None:
    """A text channel or thread (forum posts are threads) by id: the cache, else Discord."""
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None:
        try:
            channel = await guild.fetch_channel(channel_id)
        except discord.NotFound:
            return None
    return channel if isinstance(channel, discord.TextChannel | discord.Thread) else None
