"""The slash commands as Discord holds them after a sync — names, options, descriptions,
choices, permissions — are exactly the committed snapshot (tests/core/command_tree.json).

A change to the tree is a change for every server the bot is in: instructors' muscle memory,
permissions overrides set on a command, buttons that answer with a command's mention. This
test makes such a change visible in review. After a deliberate change, rewrite the snapshot
with ``COHORTBOT_WRITE_COMMAND_TREE=1 pytest tests/core/test_command_tree.py`` and commit it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.support.course import Course

SNAPSHOT = Path(__file__).with_name("command_tree.json")
#: assigned by Discord (the sandbox) at sync time, not declared by the bot
_ASSIGNED = {"id", "application_id", "guild_id", "version"}


def _declared(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _declared(v) for k, v in sorted(value.items()) if k not in _ASSIGNED}
    if isinstance(value, list):
        return [_declared(v) for v in value]
    return value


async def test_the_synced_command_tree_is_the_committed_one(course: Course) -> None:
    synced = sorted(
        (_declared(c) for c in course.sandbox.commands(course.guild_id)),
        key=lambda c: (c.get("type", 1), c["name"]),
    )
    text = json.dumps(synced, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("COHORTBOT_WRITE_COMMAND_TREE") == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8"), (
        "the synced command tree differs from tests/core/command_tree.json"
    )
