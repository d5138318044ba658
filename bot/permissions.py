"""The Discord permissions CohortBot needs, by checklist slot and guild-wide (pure data): the
invite URL asks for exactly these, and /course status checks them."""

from __future__ import annotations

from collections.abc import Mapping

#: What the bot needs in each configured channel, by checklist slot.
CHANNEL_NEEDS: Mapping[str, tuple[str, ...]] = {
    "introductions": (
        "view_channel",
        "send_messages",
        "embed_links",
        "read_message_history",
        "add_reactions",
        "create_public_threads",
        "send_messages_in_threads",
    ),
    "discussion": (
        "view_channel",
        "send_messages",
        "embed_links",
        "read_message_history",
        "create_public_threads",
        "send_messages_in_threads",
        "manage_threads",
    ),
    "coffee shop": (
        "view_channel",
        "send_messages",
        "embed_links",
        "read_message_history",
        "add_reactions",
        "create_private_threads",
        "send_messages_in_threads",
        "manage_threads",
    ),
    "leads": (
        "view_channel",
        "send_messages",
        "embed_links",
        "attach_files",
        "read_message_history",
    ),
}

#: Guild-wide permissions the bot needs (roles for create_missing, introduced/alert roles).
GUILD_NEEDS: tuple[str, ...] = ("manage_roles", "manage_channels")


def invite_permission_names() -> list[str]:
    names: set[str] = set(GUILD_NEEDS)
    for needs in CHANNEL_NEEDS.values():
        names.update(needs)
    return sorted(names)
