"""The setup checklist as pure data: what is configured and whether the bot can work there.

The cog takes a snapshot of the guild (names, the bot's permissions) and this module decides
what is green and red, so the rules are testable without Discord.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.permissions import CHANNEL_NEEDS, GUILD_NEEDS, invite_permission_names

__all__ = [
    "CHANNEL_NEEDS",
    "GUILD_NEEDS",
    "ChannelSnapshot",
    "CheckItem",
    "GuildSnapshot",
    "RoleSnapshot",
    "all_ok",
    "build_checklist",
    "invite_permission_names",
    "pretty",
    "render_checklist",
]


def pretty(permission: str) -> str:
    return permission.replace("_", " ").title().replace("In Threads", "in Threads")


@dataclass(frozen=True)
class RoleSnapshot:
    slot: str
    role_id: int | None
    name: str | None  # None when the id no longer exists in the guild


@dataclass(frozen=True)
class ChannelSnapshot:
    slot: str
    channel_id: int | None
    name: str | None
    bot_permissions: frozenset[str] = frozenset()
    everyone_can_view: bool = False
    #: student roles (by name) that can view it: only the leads channel's matter
    students_can_view: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckItem:
    label: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class GuildSnapshot:
    roles: tuple[RoleSnapshot, ...]
    channels: tuple[ChannelSnapshot, ...]
    timezone: str | None
    timezone_valid: bool
    bot_guild_permissions: frozenset[str]
    cohort_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def build_checklist(snapshot: GuildSnapshot) -> list[CheckItem]:
    items: list[CheckItem] = []
    for role in snapshot.roles:
        label = f"{role.slot.capitalize()} role"
        if role.role_id is None:
            items.append(CheckItem(label, False, "not set"))
        elif role.name is None:
            items.append(CheckItem(label, False, "the configured role was deleted"))
        else:
            items.append(CheckItem(label, True, f"@{role.name}"))
    for channel in snapshot.channels:
        label = f"{channel.slot.capitalize()} channel"
        if channel.channel_id is None:
            items.append(CheckItem(label, False, "not set"))
            continue
        if channel.name is None:
            items.append(CheckItem(label, False, "the configured channel was deleted"))
            continue
        missing = [p for p in CHANNEL_NEEDS[channel.slot] if p not in channel.bot_permissions]
        problems: list[str] = []
        if missing:
            problems.append("I'm missing: " + ", ".join(pretty(p) for p in missing))
        if channel.slot == "leads" and channel.everyone_can_view:
            problems.append("@everyone can read it — make it private to staff")
        if channel.slot == "leads" and channel.students_can_view:
            roles = ", ".join(f"@{name}" for name in channel.students_can_view)
            problems.append(f"{roles} can read it — make it private to staff")
        if channel.slot == "leads" and (channel.everyone_can_view or channel.students_can_view):
            problems.append("nothing is sent there until then")
        if problems:
            items.append(CheckItem(label, False, f"#{channel.name}: " + "; ".join(problems)))
        else:
            items.append(CheckItem(label, True, f"#{channel.name}"))
    if snapshot.timezone_valid and snapshot.timezone:
        items.append(CheckItem("Course time zone", True, snapshot.timezone))
    else:
        items.append(CheckItem("Course time zone", False, "not a valid IANA time zone"))
    missing_guild = [p for p in GUILD_NEEDS if p not in snapshot.bot_guild_permissions]
    if missing_guild:
        items.append(
            CheckItem(
                "Server permissions",
                False,
                "I'm missing: " + ", ".join(pretty(p) for p in missing_guild),
            )
        )
    else:
        items.append(CheckItem("Server permissions", True, "Manage Roles, Manage Channels"))
    if snapshot.cohort_names:
        items.append(CheckItem("Cohorts", True, ", ".join(snapshot.cohort_names)))
    else:
        items.append(CheckItem("Cohorts", False, "none yet — set a student role"))
    return items


def render_checklist(items: list[CheckItem]) -> str:
    """Plain text that reads well to a screen reader: the state is a word, not a colour."""
    lines = []
    for item in items:
        mark = "✅ OK" if item.ok else "❌ Needs attention"
        lines.append(f"{mark} — **{item.label}**: {item.detail}")
    return "\n".join(lines)


def all_ok(items: list[CheckItem]) -> bool:
    return all(item.ok for item in items)
