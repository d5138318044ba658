"""The sandbox's in-memory Discord world: users, guilds, roles, channels, threads, messages.

It knows how to render every object as the JSON payload discord.py expects and how to compute
permissions; it never touches the network. Changes are announced through ``dispatch`` (a
gateway event) and ``changed`` (wake up anyone waiting on the world).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import perms as P

JSON = dict[str, Any]
DISCORD_EPOCH_MS = 1420070400000

TEXT, DM, VOICE, CATEGORY, NEWS = 0, 1, 2, 4, 5
PUBLIC_THREAD, PRIVATE_THREAD, NEWS_THREAD = 11, 12, 10
FORUM, MEDIA = 15, 16
THREAD_TYPES = {NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD}

EPHEMERAL = 1 << 6
LOADING = 1 << 7
HAS_THREAD = 1 << 5

_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")


def iso(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).isoformat()


class Snowflakes:
    """Real-looking, strictly increasing snowflakes (so ``created_at`` and ordering work)."""

    def __init__(self, start: int | None = None) -> None:
        # With ``start`` the ids are start, start+1, …: the same on every run (the demo's seeds
        # and transcript depend on them); without it they follow the wall clock.
        self._last = 0 if start is None else start - 1
        self._fixed = start is not None

    def next(self) -> int:
        if self._fixed:
            self._last += 1
            return self._last
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(self._last + 1, now)
        return self._last

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next id whose guild would be on ``shard_id`` (``(id >> 22) % shard_count``)."""
        candidate = self.next()
        behind = (shard_id - (candidate >> 22)) % shard_count
        if behind:
            # Move to the start of the next timestamp that lands on the shard: still increasing.
            candidate = ((candidate >> 22) + behind) << 22
            self._last = candidate
        return candidate


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    hoist: bool = False
    mentionable: bool = False
    color: int = 0
    managed: bool = False
    bot_id: int | None = None

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Member:
    user_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso)


@dataclass
class Channel:
    id: int
    type: int
    name: str = ""
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: list[JSON] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)
    last_message_id: int | None = None
    flags: int = 0
    available_tags: list[JSON] = field(default_factory=list)
    # threads
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    archive_timestamp: str = field(default_factory=iso)
    create_timestamp: str = field(default_factory=iso)
    thread_members: dict[int, str] = field(default_factory=dict)
    message_count: int = 0
    total_message_sent: int = 0
    applied_tags: list[int] = field(default_factory=list)
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: list[int] = field(default_factory=list)
    system_channel_id: int | None = None
    bot_role_id: int | None = None


class WorldError(Exception):
    """A REST-visible error: status, Discord error code, message (and form errors)."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def missing_permissions() -> WorldError:
    return WorldError(403, 50013, "Missing Permissions")


def missing_access() -> WorldError:
    return WorldError(403, 50001, "Missing Access")


def invalid_form(errors: JSON) -> WorldError:
    return WorldError(400, 50035, "Invalid Form Body", errors)


class World:
    """All the state. ``dispatch(event, data)`` and ``changed()`` are set by the server."""

    def __init__(self, *, first_id: int | None = None) -> None:
        self.ids = Snowflakes(first_id)
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, JSON] = {}
        self.channel_messages: dict[int, list[int]] = {}
        #: ephemeral message id -> user id who can see it
        self.ephemeral_to: dict[int, int] = {}
        self.attachments: dict[int, bytes] = {}
        self.dm_channels: dict[int, int] = {}
        self.closed_dms: set[int] = set()
        self.nonces: dict[tuple[int, str], int] = {}
        self.dispatch: Callable[[str, JSON], None] = lambda event, data: None
        self.changed: Callable[[], None] = lambda: None
        self.bot_user_id = self.add_user("CohortBot", bot=True)
        self.owner_user_id = self.add_user("app-owner")
        self.application_id = self.ids.next()

    # ------------------------------------------------------------------ users
    def add_user(self, name: str, *, bot: bool = False, global_name: str | None = None) -> int:
        user = User(self.ids.next(), name, global_name, bot)
        self.users[user.id] = user
        self.changed()
        return user.id

    def user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise WorldError(404, 10013, "Unknown User") from None

    # ------------------------------------------------------------------ guilds
    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise WorldError(404, 10004, "Unknown Guild") from None

    def member(self, guild_id: int, user_id: int) -> Member:
        try:
            return self.guild(guild_id).members[user_id]
        except KeyError:
            raise WorldError(404, 10007, "Unknown Member") from None

    def role(self, guild_id: int, role_id: int) -> Role:
        try:
            return self.guild(guild_id).roles[role_id]
        except KeyError:
            raise WorldError(404, 10011, "Unknown Role") from None

    def channel(self, channel_id: int) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None or ch.deleted:
            raise WorldError(404, 10003, "Unknown Channel")
        return ch

    def message(self, channel_id: int, message_id: int) -> JSON:
        msg = self.messages.get(message_id)
        if msg is None or int(msg["channel_id"]) != channel_id:
            raise WorldError(404, 10008, "Unknown Message")
        return msg

    def guild_channels(self, guild_id: int) -> list[Channel]:
        return [
            self.channels[c]
            for c in self.guild(guild_id).channels
            if not self.channels[c].deleted and not self.channels[c].is_thread
        ]

    def guild_threads(self, guild_id: int, *, active_only: bool = True) -> list[Channel]:
        return [
            self.channels[c]
            for c in self.guild(guild_id).channels
            if self.channels[c].is_thread
            and not self.channels[c].deleted
            and not (active_only and self.channels[c].archived)
        ]

    def next_role_position(self, guild_id: int) -> int:
        """New roles go to the bottom (position 1), pushing the others up, like Discord."""
        for role in self.guild(guild_id).roles.values():
            if role.id != guild_id:
                role.position += 1
        return 1

    # ------------------------------------------------------------------ permissions
    def base_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self.guild(guild_id)
        member = guild.members.get(user_id)
        everyone = guild.roles[guild_id].permissions
        roles = [
            guild.roles[r].permissions for r in (member.roles if member else []) if r in guild.roles
        ]
        return P.base_permissions(
            is_owner=user_id == guild.owner_id, everyone=everyone, role_permissions=roles
        )

    def channel_permissions(self, channel_id: int, user_id: int) -> int:
        ch = self.channel(channel_id)
        if ch.guild_id is None:
            dm_ok = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.EMBED_LINKS
            return dm_ok | P.ATTACH_FILES | P.ADD_REACTIONS if user_id in ch.recipients else 0
        guild = self.guild(ch.guild_id)
        member = guild.members.get(user_id)
        if member is None:
            return 0
        source = self.channels[ch.parent_id] if ch.is_thread and ch.parent_id else ch
        base = self.base_permissions(ch.guild_id, user_id)
        value = P.apply_overwrites(
            base,
            source.overwrites,
            guild_id=ch.guild_id,
            role_ids=member.roles,
            user_id=user_id,
        )
        value = P.finalize_text(value, is_thread=ch.is_thread)
        if (
            ch.type == PRIVATE_THREAD
            and value != P.ALL
            and user_id not in ch.thread_members
            and not value & P.MANAGE_THREADS
        ):
            return 0
        return value

    def top_role_position(self, guild_id: int, user_id: int) -> int:
        guild = self.guild(guild_id)
        member = guild.members.get(user_id)
        if member is None:
            return -1
        return max([guild.roles[r].position for r in member.roles if r in guild.roles] + [0])

    # ------------------------------------------------------------------ payloads
    def member_payload(self, guild_id: int, user_id: int, *, with_user: bool = True) -> JSON:
        member = self.member(guild_id, user_id)
        data: JSON = {
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.roles],
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user(user_id).payload()
        return data

    def thread_member_payload(self, channel: Channel, user_id: int) -> JSON:
        return {
            "id": str(channel.id),
            "user_id": str(user_id),
            "join_timestamp": channel.thread_members[user_id],
            "flags": 0,
        }

    def channel_payload(self, channel_id: int, *, for_user: int | None = None) -> JSON:
        ch = self.channel(channel_id)
        data: JSON = {
            "id": str(ch.id),
            "type": ch.type,
            "flags": ch.flags,
            "last_message_id": str(ch.last_message_id) if ch.last_message_id else None,
        }
        if ch.type == DM:
            data["recipients"] = [
                self.user(u).payload() for u in ch.recipients if u != self.bot_user_id
            ]
            return data
        data.update(
            {
                "guild_id": str(ch.guild_id),
                "name": ch.name,
                "position": ch.position,
                "parent_id": str(ch.parent_id) if ch.parent_id else None,
                "nsfw": False,
                "rate_limit_per_user": 0,
            }
        )
        if ch.is_thread:
            data.update(
                {
                    "owner_id": str(ch.owner_id),
                    "message_count": ch.message_count,
                    "member_count": len(ch.thread_members),
                    "total_message_sent": ch.total_message_sent,
                    "applied_tags": [str(t) for t in ch.applied_tags],
                    "thread_metadata": {
                        "archived": ch.archived,
                        "auto_archive_duration": ch.auto_archive_duration,
                        "archive_timestamp": ch.archive_timestamp,
                        "locked": ch.locked,
                        "invitable": ch.invitable,
                        "create_timestamp": ch.create_timestamp,
                    },
                }
            )
            if self.bot_user_id in ch.thread_members:
                data["member"] = self.thread_member_payload(ch, self.bot_user_id)
        else:
            data["permission_overwrites"] = [
                {
                    "id": str(ow["id"]),
                    "type": int(ow.get("type", 0)),
                    "allow": str(int(ow.get("allow") or 0)),
                    "deny": str(int(ow.get("deny") or 0)),
                }
                for ow in ch.overwrites
            ]
            data["topic"] = ch.topic
            data["default_auto_archive_duration"] = 1440
            data["default_thread_rate_limit_per_user"] = 0
        if ch.type in (FORUM, MEDIA):
            data.update(
                {
                    "available_tags": copy.deepcopy(ch.available_tags),
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                }
            )
        if ch.type == VOICE:
            data.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None})
        if for_user is not None:
            data["permissions"] = str(self.channel_permissions(ch.id, for_user))
        return data

    def guild_payload(self, guild_id: int) -> JSON:
        guild = self.guild(guild_id)
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": ["COMMUNITY"],
            "mfa_level": 0,
            "nsfw_level": 0,
            "application_id": None,
            "system_channel_id": str(guild.system_channel_id) if guild.system_channel_id else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "max_members": 500000,
            "max_video_channel_users": 25,
            "premium_progress_bar_enabled": False,
            "approximate_member_count": len(guild.members),
            "approximate_presence_count": 0,
        }

    def guild_create_payload(self, guild_id: int, *, large_threshold: int | None = None) -> JSON:
        """GUILD_CREATE. Above ``large_threshold`` members the guild is ``large`` and, as on
        Discord without the presences intent, carries only the bot's own member: the client
        must request the rest (op 8, GUILD_MEMBERS_CHUNK)."""
        guild = self.guild(guild_id)
        data = self.guild_payload(guild_id)
        large = large_threshold is not None and len(guild.members) > large_threshold
        listed = [self.bot_user_id] if large else list(guild.members)
        data.update(
            {
                "unavailable": False,
                "large": large,
                "joined_at": guild.members[self.bot_user_id].joined_at,
                "member_count": len(guild.members),
                "members": [self.member_payload(guild_id, uid) for uid in listed],
                "channels": [self.channel_payload(c.id) for c in self.guild_channels(guild_id)],
                "threads": [self.channel_payload(t.id) for t in self.guild_threads(guild_id)],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return data

    # ------------------------------------------------------------------ mentions
    def resolve_mentions(
        self, channel: Channel, content: str, allowed: JSON | None, reply_author: int | None
    ) -> tuple[list[int], list[int], bool]:
        parse = (
            {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
        )
        users_allowed = {int(u) for u in (allowed or {}).get("users") or []}
        roles_allowed = {int(r) for r in (allowed or {}).get("roles") or []}
        users: list[int] = []
        for raw in _MENTION_USER.findall(content):
            uid = int(raw)
            if (
                uid in self.users
                and ("users" in parse or uid in users_allowed)
                and uid not in users
            ):
                users.append(uid)
        if reply_author is not None and reply_author not in users:
            replied = True if allowed is None else bool(allowed.get("replied_user", False))
            if replied:
                users.append(reply_author)
        roles: list[int] = []
        if channel.guild_id is not None:
            guild = self.guild(channel.guild_id)
            for raw in _MENTION_ROLE.findall(content):
                rid = int(raw)
                if (
                    rid in guild.roles
                    and ("roles" in parse or rid in roles_allowed)
                    and rid not in roles
                ):
                    roles.append(rid)
        everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)
        return users, roles, everyone

    # ------------------------------------------------------------------ messages
    def build_message(
        self,
        channel_id: int,
        author_id: int,
        body: JSON,
        *,
        message_id: int | None = None,
        attachments: list[JSON] | None = None,
        extra: JSON | None = None,
    ) -> JSON:
        ch = self.channel(channel_id)
        ref_payload: JSON | None = None
        reply_author: int | None = None
        msg_type = 0
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            ref_id = int(reference["message_id"])
            ref_channel = int(reference.get("channel_id") or channel_id)
            found = self.messages.get(ref_id)
            if found is None or int(found["channel_id"]) != ref_channel:
                if reference.get("fail_if_not_exists", True):
                    from sandbox.limits import add_error

                    errors: JSON = {}
                    add_error(
                        errors,
                        ["message_reference"],
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    )
                    raise invalid_form(errors)
            else:
                ref_payload = copy.deepcopy(found)
                ref_payload.pop("referenced_message", None)
                reply_author = int(found["author"]["id"])
                msg_type = 19
        content = str(body.get("content") or "")
        users, roles, everyone = self.resolve_mentions(
            ch, content, body.get("allowed_mentions"), reply_author
        )
        mid = message_id or self.ids.next()
        msg: JSON = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.user(author_id).payload(),
            "content": content,
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": [self.user(u).payload() for u in users],
            "mention_roles": [str(r) for r in roles],
            "attachments": attachments or [],
            "embeds": copy.deepcopy(body.get("embeds") or []),
            "components": number_components(copy.deepcopy(body.get("components") or [])),
            "reactions": [],
            "pinned": False,
            "type": msg_type,
            "flags": int(body.get("flags") or 0),
        }
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
        if ch.guild_id is not None:
            msg["guild_id"] = str(ch.guild_id)
            if author_id in self.guild(ch.guild_id).members:
                msg["member"] = self.member_payload(ch.guild_id, author_id, with_user=False)
        if reference and ref_payload is not None:
            msg["message_reference"] = {
                "type": 0,
                "message_id": ref_payload["id"],
                "channel_id": ref_payload["channel_id"],
                "guild_id": ref_payload.get("guild_id"),
            }
            msg["referenced_message"] = ref_payload
        if extra:
            msg.update(extra)
        # Discord records the sanitized allowed_mentions nowhere; keep it for assertions.
        msg["_allowed_mentions"] = copy.deepcopy(body.get("allowed_mentions"))
        return msg

    def store_message(
        self, msg: JSON, *, ephemeral_to: int | None = None, announce: bool = True
    ) -> None:
        """Keep the message; ``announce=False`` skips MESSAGE_CREATE (the caller streams it)."""
        mid = int(msg["id"])
        self.messages[mid] = msg
        if ephemeral_to is not None:
            self.ephemeral_to[mid] = ephemeral_to
            self.changed()
            return
        cid = int(msg["channel_id"])
        self.channel_messages.setdefault(cid, []).append(mid)
        ch = self.channels[cid]
        ch.last_message_id = mid
        if ch.is_thread and mid != ch.id:
            ch.message_count += 1
            ch.total_message_sent += 1
        if not announce:
            return
        self.dispatch("MESSAGE_CREATE", public_message(msg))
        self.changed()

    def update_message(self, msg: JSON) -> None:
        msg["edited_timestamp"] = iso()
        if int(msg["id"]) not in self.ephemeral_to:
            self.dispatch("MESSAGE_UPDATE", public_message(msg))
        self.changed()

    def delete_message(self, channel_id: int, message_id: int) -> None:
        msg = self.message(channel_id, message_id)
        del self.messages[message_id]
        if message_id in self.ephemeral_to:
            del self.ephemeral_to[message_id]
        else:
            self.channel_messages[channel_id].remove(message_id)
            data: JSON = {"id": str(message_id), "channel_id": str(channel_id)}
            if msg.get("guild_id"):
                data["guild_id"] = msg["guild_id"]
            self.dispatch("MESSAGE_DELETE", data)
        self.changed()

    def reaction(
        self, channel_id: int, message_id: int, user_id: int, emoji: str, *, add: bool
    ) -> None:
        msg = self.message(channel_id, message_id)
        reactors: dict[str, list[int]] = msg.setdefault("_reactors", {})
        users = reactors.setdefault(emoji, [])
        if add == (user_id in users):
            return
        if add:
            users.append(user_id)
        else:
            users.remove(user_id)
        msg["reactions"] = [
            {
                "emoji": emoji_payload(name),
                "count": len(who),
                "count_details": {"burst": 0, "normal": len(who)},
                "me": self.bot_user_id in who,
                "me_burst": False,
                "burst_colors": [],
            }
            for name, who in reactors.items()
            if who
        ]
        data: JSON = {
            "user_id": str(user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": emoji_payload(emoji),
            "type": 0,
            "burst": False,
        }
        ch = self.channel(channel_id)
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
            if add and user_id in self.guild(ch.guild_id).members:
                data["member"] = self.member_payload(ch.guild_id, user_id)
        if add:
            data["message_author_id"] = msg["author"]["id"]
            data["burst_colors"] = []
        self.dispatch("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", data)
        self.changed()


def emoji_payload(emoji: str) -> JSON:
    match = re.fullmatch(r"<?a?:?(\w+):(\d+)>?", emoji)
    if match:
        return {"id": match.group(2), "name": match.group(1), "animated": emoji.startswith("<a:")}
    return {"id": None, "name": emoji}


def public_message(msg: JSON) -> JSON:
    """A stored message without the sandbox's private bookkeeping keys."""
    return {k: copy.deepcopy(v) for k, v in msg.items() if not k.startswith("_")}


def number_components(components: list[JSON]) -> list[JSON]:
    """Give every component an ``id`` like Discord does (depth-first, starting at 1)."""
    counter = 0

    def walk(items: list[JSON]) -> None:
        nonlocal counter
        for item in items:
            counter += 1
            item.setdefault("id", counter)
            if isinstance(item.get("components"), list):
                walk(item["components"])
            for key in ("accessory", "component"):
                if isinstance(item.get(key), dict):
                    walk([item[key]])

    walk(components)
    return components


def iter_components(components: list[JSON]) -> list[JSON]:
    out: list[JSON] = []
    for item in components:
        out.append(item)
        if isinstance(item.get("components"), list):
            out.extend(iter_components(item["components"]))
        for key in ("accessory", "component"):
            if isinstance(item.get(key), dict):
                out.extend(iter_components([item[key]]))
    return out
