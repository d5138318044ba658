"""The synced command tree as tests walk it: staff groups and each leaf's options."""

from __future__ import annotations

from typing import Any

from sandbox.server import SandboxServer

STAFF_GROUPS = ("course", "digest")


def option_definitions(s: SandboxServer, guild_id: int, qualified: str) -> list[dict[str, Any]]:
    """The option definitions Discord holds for a leaf (what the sandbox validates against)."""
    parts = qualified.split()
    command = next(c for c in s.commands(guild_id) if c["name"] == parts[0])
    options: list[dict[str, Any]] = command.get("options") or []
    for part in parts[1:]:
        options = next(o for o in options if o["name"] == part).get("options") or []
    assert all(o["type"] > 2 for o in options), f"{qualified} is not a leaf"
    return options
