"""Interaction records (what a test holds after invoking a command) and option building."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.world import JSON

Waiter = Callable[[Callable[[], bool], float], Awaitable[None]]

#: response kinds that are a real answer (not a "thinking…" placeholder)
FINAL_KINDS = {"message", "update", "followup", "edit_original", "modal", "autocomplete"}

OPTION_SUBCOMMAND = 1
OPTION_GROUP = 2
OPTION_STRING = 3
OPTION_INTEGER = 4
OPTION_BOOLEAN = 5
OPTION_USER = 6
OPTION_CHANNEL = 7
OPTION_ROLE = 8
OPTION_MENTIONABLE = 9
OPTION_NUMBER = 10
OPTION_ATTACHMENT = 11


class InteractionError(Exception):
    """The driver refused to do something a real Discord client would not let a person do."""


@dataclass(eq=False)
class InteractionRecord:
    id: int
    token: str
    type: int
    user_id: int
    guild_id: int | None
    channel_id: int
    payload: JSON
    _wait: Waiter
    #: every callback / followup / edit, in order
    responses: list[JSON] = field(default_factory=list)
    #: the modal the bot opened, if any
    modal: JSON | None = None
    #: the callback type the bot answered with (None until it answers)
    callback_type: int | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    #: for component interactions: the message the component is on
    message_id: int | None = None
    #: autocomplete choices, when answered with type 8
    choices: list[JSON] | None = None
    #: set by ``SandboxServer.expire_interaction``: the token's 15 minutes are over
    expired: bool = False
    #: monotonic time the INTERACTION_CREATE was dispatched
    dispatched_at: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    async def wait_response(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """The first callback (a message, a defer, an update, a modal, autocomplete choices)."""
        await self._wait(lambda: bool(self.responses), timeout)
        return self.responses[0]

    async def wait_final(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """The first response that is not a deferral (callback message, followup, edit…)."""
        await self._wait(lambda: self._final() is not None, timeout)
        final = self._final()
        assert final is not None
        return final

    async def wait_responses(self, count: int, timeout: float = 5.0) -> list[JSON]:  # noqa: ASYNC109
        await self._wait(lambda: len(self.responses) >= count, timeout)
        return self.responses

    def _final(self) -> JSON | None:
        for response in self.responses:
            if response["kind"] in FINAL_KINDS:
                return response
        return None

    def text(self) -> str:
        """All content, embed titles/descriptions/fields/footers of every response, joined."""
        parts: list[str] = []
        for response in self.responses:
            parts.extend(message_texts(response))
        if self.modal:
            parts.append(str(self.modal.get("title") or ""))
        return "\n".join(p for p in parts if p)

    @property
    def ephemeral(self) -> bool:
        final = self._final()
        return bool(final and final.get("ephemeral"))


def message_texts(message: JSON) -> list[str]:
    parts: list[str] = [str(message.get("content") or "")]
    for embed in message.get("embeds") or []:
        parts.append(str(embed.get("title") or ""))
        parts.append(str(embed.get("description") or ""))
        for fld in embed.get("fields") or []:
            parts.append(str(fld.get("name") or ""))
            parts.append(str(fld.get("value") or ""))
        parts.append(str((embed.get("footer") or {}).get("text") or ""))
        parts.append(str((embed.get("author") or {}).get("name") or ""))
    parts.extend(_component_texts(message.get("components") or []))
    return parts


def _component_texts(components: list[JSON]) -> list[str]:
    out: list[str] = []
    for comp in components:
        if comp.get("type") == 10:
            out.append(str(comp.get("content") or ""))
        for key in ("components",):
            if isinstance(comp.get(key), list):
                out.extend(_component_texts(comp[key]))
        for key in ("accessory", "component"):
            if isinstance(comp.get(key), dict):
                out.extend(_component_texts([comp[key]]))
    return out


def find_command(commands: list[JSON], name: str, ctype: int = 1) -> JSON | None:
    for cmd in commands:
        if cmd.get("name") == name and int(cmd.get("type", 1) or 1) == ctype:
            return cmd
    return None


def split_path(command: JSON, path: list[str]) -> tuple[list[str], list[JSON]]:
    """Walk "group sub" below the command; return the walked names and the leaf option defs."""
    options: list[JSON] = command.get("options") or []
    walked: list[str] = []
    for part in path:
        found = next(
            (
                o
                for o in options
                if o.get("name") == part and o.get("type") in (OPTION_SUBCOMMAND, OPTION_GROUP)
            ),
            None,
        )
        if found is None:
            raise InteractionError(
                f"/{command['name']} has no subcommand {' '.join([*walked, part])!r}"
            )
        walked.append(part)
        options = found.get("options") or []
    if any(o.get("type") in (OPTION_SUBCOMMAND, OPTION_GROUP) for o in options):
        raise InteractionError(
            f"/{command['name']} {' '.join(walked)} is a group: name a subcommand".replace(
                "  ", " "
            )
        )
    return walked, options


def nest_options(walked: list[str], command: JSON, leaf: list[JSON]) -> list[JSON]:
    """Wrap leaf option values into subcommand / group option objects."""
    options = leaf
    definitions: list[JSON] = command.get("options") or []
    chain: list[tuple[str, int]] = []
    for part in walked:
        found = next(o for o in definitions if o.get("name") == part)
        chain.append((part, int(found["type"])))
        definitions = found.get("options") or []
    for name, otype in reversed(chain):
        options = [{"name": name, "type": otype, "options": options}]
    return options


def coerce_value(definition: JSON, value: Any) -> Any:
    """Turn a test's Python value into what Discord would send, validating like the client UI."""
    otype = int(definition["type"])
    name = definition["name"]
    if otype in (OPTION_USER, OPTION_CHANNEL, OPTION_ROLE, OPTION_MENTIONABLE, OPTION_ATTACHMENT):
        raw = getattr(value, "id", value)
        return str(int(raw))
    if otype == OPTION_BOOLEAN:
        if not isinstance(value, bool):
            raise InteractionError(f"option {name!r} needs a bool, got {value!r}")
        return value
    if otype == OPTION_INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InteractionError(f"option {name!r} needs an int, got {value!r}")
        _check_range(definition, value)
        return value
    if otype == OPTION_NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InteractionError(f"option {name!r} needs a number, got {value!r}")
        _check_range(definition, value)
        return value
    text = str(value)
    min_len = definition.get("min_length")
    max_len = definition.get("max_length")
    if min_len is not None and len(text) < int(min_len):
        raise InteractionError(f"option {name!r} is shorter than {min_len}")
    if max_len is not None and len(text) > int(max_len):
        raise InteractionError(f"option {name!r} is longer than {max_len}")
    return text


def _check_range(definition: JSON, value: float) -> None:
    lo = definition.get("min_value")
    hi = definition.get("max_value")
    if lo is not None and value < lo:
        raise InteractionError(f"option {definition['name']!r} must be >= {lo}")
    if hi is not None and value > hi:
        raise InteractionError(f"option {definition['name']!r} must be <= {hi}")


def check_choices(definition: JSON, value: Any) -> None:
    choices = definition.get("choices")
    if choices and value not in [c.get("value") for c in choices]:
        allowed = [c.get("value") for c in choices]
        raise InteractionError(
            f"option {definition['name']!r} must be one of {allowed}, got {value!r}"
        )
