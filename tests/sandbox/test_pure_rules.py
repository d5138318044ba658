"""The sandbox's permission algorithm and payload limits, without a network."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sandbox import limits
from sandbox import perms as P

GUILD = 1
ROLE_A, ROLE_B = 2, 3
USER = 4


def test_owner_and_administrator_get_everything() -> None:
    assert P.base_permissions(is_owner=True, everyone=0, role_permissions=[]) == P.ALL
    assert (
        P.base_permissions(is_owner=False, everyone=0, role_permissions=[P.ADMINISTRATOR]) == P.ALL
    )
    assert (
        P.base_permissions(is_owner=False, everyone=P.VIEW_CHANNEL, role_permissions=[])
        == P.VIEW_CHANNEL
    )


def test_overwrites_apply_everyone_then_roles_then_member() -> None:
    base = P.VIEW_CHANNEL | P.SEND_MESSAGES
    overwrites: list[dict[str, Any]] = [
        {"id": GUILD, "type": 0, "allow": 0, "deny": P.VIEW_CHANNEL},
        {"id": ROLE_A, "type": 0, "allow": P.VIEW_CHANNEL, "deny": 0},
        {"id": ROLE_B, "type": 0, "allow": 0, "deny": P.VIEW_CHANNEL},
        {"id": USER, "type": 1, "allow": 0, "deny": P.SEND_MESSAGES},
    ]
    # role allow wins over another role's deny (they are combined), member overwrite last
    value = P.apply_overwrites(
        base, overwrites, guild_id=GUILD, role_ids=[ROLE_A, ROLE_B], user_id=USER
    )
    assert value == P.VIEW_CHANNEL
    assert (
        P.apply_overwrites(base, overwrites, guild_id=GUILD, role_ids=[], user_id=99)
        == P.SEND_MESSAGES
    )
    assert P.finalize_text(P.SEND_MESSAGES, is_thread=False) == 0


@given(st.integers(min_value=0, max_value=P.ALL), st.integers(min_value=0, max_value=P.ALL))
def test_administrator_ignores_any_overwrite(allow: int, deny: int) -> None:
    overwrites = [{"id": GUILD, "type": 0, "allow": allow, "deny": deny}]
    assert P.apply_overwrites(P.ALL, overwrites, guild_id=GUILD, role_ids=[], user_id=USER) == P.ALL


@given(st.text(max_size=2100))
def test_content_limit(content: str) -> None:
    errors = limits.check_message({"content": content})
    assert bool(errors) == (len(content) > 2000)


def test_embed_limits() -> None:
    ok = {
        "title": "t" * 256,
        "description": "d" * 4096,
        "fields": [{"name": "n", "value": "v"}] * 25,
    }
    assert not limits.check_message({"embeds": [ok]})
    assert limits.check_message({"embeds": [{"title": "t" * 257}]})
    assert limits.check_message({"embeds": [{"description": "d" * 4097}]})
    assert limits.check_message({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]})
    assert limits.check_message({"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]})
    assert limits.check_message({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]})
    assert limits.check_message({"embeds": [{"footer": {"text": "f" * 2049}}]})
    assert limits.check_message({"embeds": [{"author": {"name": "a" * 257}}]})
    assert limits.check_message({"embeds": [{"description": "d" * 3000}] * 3})  # > 6000 total
    assert limits.check_message({"embeds": [{"title": "t"}] * 11})


def _row(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(items)}


def _button(custom_id: str, label: str = "b") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


def test_component_limits() -> None:
    assert not limits.check_message({"components": [_row(_button("a"))]})
    assert limits.check_message({"components": [_row(_button(str(i))) for i in range(6)]})
    assert limits.check_message({"components": [_row(*[_button(str(i)) for i in range(6)])]})
    assert limits.check_message({"components": [_row(_button("c" * 101))]})
    assert limits.check_message({"components": [_row(_button("a", label="l" * 81))]})
    assert limits.check_message({"components": [_row(_button("a")), _row(_button("a"))]})
    options = [{"label": str(i), "value": str(i)} for i in range(26)]
    assert limits.check_message(
        {"components": [_row({"type": 3, "custom_id": "s", "options": options})]}
    )
    assert limits.is_empty_message({"content": "  "}, has_files=False)
    assert not limits.is_empty_message({"content": ""}, has_files=True)


def test_command_validation() -> None:
    good = {
        "name": "course",
        "description": "d",
        "options": [{"type": 3, "name": "a", "description": "x", "required": True}],
    }
    assert not limits.check_commands([good, {"name": "Wave", "type": 2}])
    assert limits.check_commands([{"name": "Bad Name", "description": "d"}])
    assert limits.check_commands([{"name": "x", "description": ""}])
    misordered = {
        "name": "x",
        "description": "d",
        "options": [
            {"type": 3, "name": "a", "description": "x"},
            {"type": 3, "name": "b", "description": "x", "required": True},
        ],
    }
    assert limits.check_commands([misordered])
