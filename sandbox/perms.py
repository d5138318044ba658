"""Discord permission bits and the channel permission algorithm (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_AUDIT_LOG = 1 << 7
PRIORITY_SPEAKER = 1 << 8
STREAM = 1 << 9
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
VIEW_GUILD_INSIGHTS = 1 << 19
CONNECT = 1 << 20
SPEAK = 1 << 21
MUTE_MEMBERS = 1 << 22
DEAFEN_MEMBERS = 1 << 23
MOVE_MEMBERS = 1 << 24
USE_VAD = 1 << 25
CHANGE_NICKNAME = 1 << 26
MANAGE_NICKNAMES = 1 << 27
MANAGE_ROLES = 1 << 28
MANAGE_WEBHOOKS = 1 << 29
MANAGE_EXPRESSIONS = 1 << 30
USE_APPLICATION_COMMANDS = 1 << 31
REQUEST_TO_SPEAK = 1 << 32
MANAGE_EVENTS = 1 << 33
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
USE_EXTERNAL_STICKERS = 1 << 37
SEND_MESSAGES_IN_THREADS = 1 << 38
USE_EMBEDDED_ACTIVITIES = 1 << 39
MODERATE_MEMBERS = 1 << 40

ALL = (1 << 53) - 1

#: What a new server's @everyone role gets on Discord (roughly).
DEFAULT_EVERYONE = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | STREAM
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | USE_VAD
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | REQUEST_TO_SPEAK
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | USE_EXTERNAL_STICKERS
    | SEND_MESSAGES_IN_THREADS
    | USE_EMBEDDED_ACTIVITIES
)

#: What the bot's managed role gets by default (as if invited with these permissions).
DEFAULT_BOT = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | SEND_MESSAGES_IN_THREADS
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | MANAGE_MESSAGES
    | MANAGE_CHANNELS
    | MANAGE_ROLES
    | MANAGE_THREADS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | USE_APPLICATION_COMMANDS
)

#: Bits that only make sense when the member can send messages in the channel.
_SEND_DEPENDENT = MENTION_EVERYONE | SEND_TTS_MESSAGES | ATTACH_FILES | EMBED_LINKS


def base_permissions(*, is_owner: bool, everyone: int, role_permissions: Iterable[int]) -> int:
    """Guild-level permissions: @everyone plus every role; owner and Administrator get all."""
    if is_owner:
        return ALL
    perms = everyone
    for value in role_permissions:
        perms |= value
    if perms & ADMINISTRATOR:
        return ALL
    return perms


def _bits(value: Any) -> int:
    return int(value or 0)


def apply_overwrites(
    base: int,
    overwrites: Iterable[Mapping[str, Any]],
    *,
    guild_id: int,
    role_ids: Iterable[int],
    user_id: int,
) -> int:
    """Apply overwrites like Discord: @everyone, then all roles together, then the member."""
    if base & ADMINISTRATOR:
        return ALL
    by_target = {int(ow["id"]): ow for ow in overwrites}
    perms = base
    everyone = by_target.get(guild_id)
    if everyone is not None:
        perms &= ~_bits(everyone.get("deny"))
        perms |= _bits(everyone.get("allow"))
    allow = deny = 0
    for role_id in role_ids:
        ow = by_target.get(int(role_id))
        if ow is not None and int(ow.get("type", 0)) == 0:
            allow |= _bits(ow.get("allow"))
            deny |= _bits(ow.get("deny"))
    perms &= ~deny
    perms |= allow
    member = by_target.get(user_id)
    if member is not None and int(member.get("type", 1)) == 1:
        perms &= ~_bits(member.get("deny"))
        perms |= _bits(member.get("allow"))
    return perms


def finalize_text(perms: int, *, is_thread: bool) -> int:
    """Implicit permissions: no VIEW_CHANNEL means nothing; no send means no send extras."""
    if perms == ALL:
        return perms
    if not perms & VIEW_CHANNEL:
        return 0
    send = SEND_MESSAGES_IN_THREADS if is_thread else SEND_MESSAGES
    if not perms & send:
        perms &= ~_SEND_DEPENDENT
    return perms


def has(perms: int, needed: int) -> bool:
    return perms & needed == needed
