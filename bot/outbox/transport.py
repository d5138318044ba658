"""The outbox sender's view of Discord: one request per call (:class:`Transport`), and the
real one over the discord.py client (:class:`DiscordTransport`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import discord

from bot.outbox.repository import OutboxAttachment, OutboxMessage

__all__ = ["DiscordTransport", "RecentMessage", "RecentThread", "Transport"]

FORUM_ARCHIVE_MINUTES = 10080  # a week: prompt posts stay open for the whole course week


@dataclass(frozen=True)
class RecentMessage:
    id: int
    author_id: int
    nonce: str | None
    content: str
    embed_title: str | None = None


@dataclass(frozen=True)
class RecentThread:
    id: int
    owner_id: int | None
    name: str


class Transport(Protocol):
    """What the sender needs from Discord (one request per call)."""

    @property
    def bot_user_id(self) -> int: ...

    async def open_dm(self, user_id: int) -> int: ...

    async def send(
        self,
        channel_id: int,
        message: OutboxMessage,
        nonce: int,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int: ...

    async def create_forum_post(
        self,
        forum_id: int,
        message: OutboxMessage,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int: ...

    async def recent(self, channel_id: int, limit: int) -> list[RecentMessage]: ...

    async def forum_threads(self, guild_id: int, forum_id: int) -> list[RecentThread]: ...

    def can_send(self, guild_id: int, channel_id: int) -> bool | None: ...


def _files(attachments: Sequence[OutboxAttachment]) -> list[discord.File]:
    return [
        discord.File(io.BytesIO(a.data), filename=a.filename, description=a.description)
        for a in attachments
    ]


def _mentions(message: OutboxMessage) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False,
        roles=[discord.Object(r) for r in message.mention_role_ids],
        users=[discord.Object(u) for u in message.mention_user_ids],
        replied_user=False,
    )


class DiscordTransport:
    """The sender's view of the discord.py client."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    @property
    def bot_user_id(self) -> int:
        return self._client.user.id if self._client.user else 0

    async def open_dm(self, user_id: int) -> int:
        data = await self._client.http.start_private_message(user_id)
        return int(data["id"])

    def _messageable(self, channel_id: int) -> discord.abc.Messageable:
        channel = self._client.get_channel(channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self._client.get_partial_messageable(channel_id)

    async def send(
        self,
        channel_id: int,
        message: OutboxMessage,
        nonce: int,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int:
        kwargs: dict[str, Any] = {
            "content": message.content,
            "embeds": [discord.Embed.from_dict(e) for e in message.embeds],
            "nonce": nonce,  # discord.py adds enforce_nonce=True with it
            "allowed_mentions": _mentions(message),
        }
        if view is not None:
            kwargs["view"] = view
        if attachments:
            kwargs["files"] = _files(attachments)
        sent = await self._messageable(channel_id).send(**kwargs)
        return sent.id

    async def _forum(self, forum_id: int) -> discord.ForumChannel:
        channel = self._client.get_channel(forum_id)
        if channel is None:
            channel = await self._client.fetch_channel(forum_id)
        if not isinstance(channel, discord.ForumChannel):
            raise TypeError(f"channel {forum_id} is not a forum")
        return channel

    async def create_forum_post(
        self,
        forum_id: int,
        message: OutboxMessage,
        view: discord.ui.View | None,
        attachments: Sequence[OutboxAttachment] = (),
    ) -> int:
        forum = await self._forum(forum_id)
        assert message.thread_name is not None
        tags = [t for t in (forum.get_tag(i) for i in message.tag_ids) if t is not None]
        kwargs: dict[str, Any] = {
            "name": message.thread_name,
            "allowed_mentions": _mentions(message),
            "applied_tags": tags,
            "auto_archive_duration": FORUM_ARCHIVE_MINUTES,
        }
        if message.content:
            kwargs["content"] = message.content
        if message.embeds:
            kwargs["embeds"] = [discord.Embed.from_dict(e) for e in message.embeds]
        if view is not None:
            kwargs["view"] = view
        if attachments:
            kwargs["files"] = _files(attachments)
        created = await forum.create_thread(**kwargs)
        return created.thread.id

    async def forum_threads(self, guild_id: int, forum_id: int) -> list[RecentThread]:
        # Raw HTTP, not the cache: reconciliation runs at start, before the guilds arrive.
        data = await self._client.http.get_active_threads(guild_id)
        return [
            RecentThread(int(t["id"]), int(t["owner_id"]) if t.get("owner_id") else None, t["name"])
            for t in data.get("threads", [])
            if int(t.get("parent_id") or 0) == forum_id
        ]

    async def recent(self, channel_id: int, limit: int) -> list[RecentMessage]:
        channel = self._messageable(channel_id)
        out = []
        async for msg in channel.history(limit=limit):
            out.append(
                RecentMessage(
                    msg.id,
                    msg.author.id,
                    None if msg.nonce is None else str(msg.nonce),
                    msg.content,
                    msg.embeds[0].title if msg.embeds else None,
                )
            )
        return out

    def can_send(self, guild_id: int, channel_id: int) -> bool | None:
        guild = self._client.get_guild(guild_id)
        channel = guild.get_channel_or_thread(channel_id) if guild else None
        if guild is None or channel is None:
            return None
        perms = channel.permissions_for(guild.me)
        needed = (
            perms.send_messages_in_threads
            if isinstance(channel, discord.Thread)
            else perms.send_messages
        )
        return bool(perms.view_channel and needed)
