"""Discord's documented payload limits, checked like the real API (pure, no I/O).

Each ``check_*`` function returns Discord-style nested ``errors`` (empty when valid), as in
``{"embeds": {"0": {"title": {"_errors": [{"code": ..., "message": ...}]}}}}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

Errors = dict[str, Any]
Path = Sequence[str | int]

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR = 256
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_SELECT_OPTIONS = 25
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_MODAL_TITLE = 45
MAX_MODAL_COMPONENTS = 5
MAX_TEXT_INPUT_LENGTH = 4000
MAX_AUTOCOMPLETE_CHOICES = 25
MAX_V2_COMPONENTS = 40
IS_COMPONENTS_V2 = 1 << 15

_SELECT_TYPES = {3, 5, 6, 7, 8}
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def add_error(errors: Errors, path: Path, code: str, message: str) -> None:
    node = errors
    for part in path:
        node = node.setdefault(str(part), {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _max_len(errors: Errors, path: Path, value: Any, limit: int) -> int:
    if value is None:
        return 0
    text = str(value)
    if len(text) > limit:
        add_error(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return len(text)


def check_embeds(errors: Errors, embeds: Any, path: Path = ("embeds",)) -> None:
    if not embeds:
        return
    if not isinstance(embeds, list):
        add_error(errors, path, "BASE_TYPE_BAD_TYPE", "Must be an array.")
        return
    if len(embeds) > MAX_EMBEDS:
        add_error(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        p = [*path, i]
        total += _max_len(errors, [*p, "title"], embed.get("title"), MAX_EMBED_TITLE)
        total += _max_len(
            errors, [*p, "description"], embed.get("description"), MAX_EMBED_DESCRIPTION
        )
        fields = embed.get("fields") or []
        if len(fields) > MAX_EMBED_FIELDS:
            add_error(
                errors,
                [*p, "fields"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_EMBED_FIELDS} or fewer in length.",
            )
        for j, field in enumerate(fields):
            name = field.get("name")
            value = field.get("value")
            if not name or not str(name).strip():
                add_error(
                    errors,
                    [*p, "fields", j, "name"],
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            if not value or not str(value).strip():
                add_error(
                    errors,
                    [*p, "fields", j, "value"],
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            total += _max_len(errors, [*p, "fields", j, "name"], name, MAX_FIELD_NAME)
            total += _max_len(errors, [*p, "fields", j, "value"], value, MAX_FIELD_VALUE)
        footer = embed.get("footer") or {}
        total += _max_len(errors, [*p, "footer", "text"], footer.get("text"), MAX_FOOTER)
        author = embed.get("author") or {}
        total += _max_len(errors, [*p, "author", "name"], author.get("name"), MAX_AUTHOR)
    if total > MAX_EMBED_TOTAL:
        add_error(
            errors,
            path,
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
        )


def _check_custom_id(errors: Errors, path: Path, comp: dict[str, Any], seen: set[str]) -> None:
    custom_id = comp.get("custom_id")
    if custom_id is None:
        return
    _max_len(errors, [*path, "custom_id"], custom_id, MAX_CUSTOM_ID)
    if custom_id in seen:
        add_error(
            errors,
            [*path, "custom_id"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            "Component custom id cannot be duplicated",
        )
    seen.add(str(custom_id))


def _check_item(errors: Errors, path: Path, comp: dict[str, Any], seen: set[str]) -> None:
    ctype = comp.get("type")
    if ctype == 2:
        _max_len(errors, [*path, "label"], comp.get("label"), MAX_BUTTON_LABEL)
        style = comp.get("style")
        if style == 5:
            if not comp.get("url"):
                add_error(errors, [*path, "url"], "BASE_TYPE_REQUIRED", "This field is required")
        elif style != 6 and not comp.get("custom_id"):
            add_error(errors, [*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
        if not comp.get("label") and not comp.get("emoji") and style != 6:
            add_error(
                errors, [*path], "BUTTON_COMPONENT_MISSING_LABEL", "A label or emoji is required"
            )
    elif ctype in _SELECT_TYPES:
        if not comp.get("custom_id"):
            add_error(errors, [*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
        _max_len(errors, [*path, "placeholder"], comp.get("placeholder"), 150)
        if ctype == 3:
            options = comp.get("options") or []
            if not options:
                add_error(errors, [*path, "options"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more.")
            if len(options) > MAX_SELECT_OPTIONS:
                add_error(
                    errors,
                    [*path, "options"],
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {MAX_SELECT_OPTIONS} or fewer in length.",
                )
            values: set[str] = set()
            for k, opt in enumerate(options):
                _max_len(errors, [*path, "options", k, "label"], opt.get("label"), 100)
                _max_len(errors, [*path, "options", k, "value"], opt.get("value"), 100)
                _max_len(errors, [*path, "options", k, "description"], opt.get("description"), 100)
                if opt.get("value") in values:
                    add_error(
                        errors,
                        [*path, "options", k, "value"],
                        "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                        "Select component option values cannot be duplicated",
                    )
                values.add(str(opt.get("value")))
            max_values = int(comp.get("max_values", 1) or 1)
            if max_values > max(len(options), 1):
                add_error(
                    errors,
                    [*path, "max_values"],
                    "BASE_TYPE_MAX",
                    f"int value should be less than or equal to {len(options)}.",
                )
    _check_custom_id(errors, path, comp, seen)


def _walk_v2(errors: Errors, path: Path, comps: list[Any], seen: set[str]) -> int:
    count = 0
    for i, comp in enumerate(comps):
        count += 1
        p = [*path, i]
        _check_item(errors, p, comp, seen)
        for key in ("components",):
            if isinstance(comp.get(key), list):
                count += _walk_v2(errors, [*p, key], comp[key], seen)
        for key in ("accessory", "component"):
            if isinstance(comp.get(key), dict):
                count += _walk_v2(errors, [*p, key], [comp[key]], seen)
    return count


def check_components(errors: Errors, components: Any, *, flags: int = 0) -> None:
    if not components:
        return
    seen: set[str] = set()
    if flags & IS_COMPONENTS_V2:
        if _walk_v2(errors, ["components"], components, seen) > MAX_V2_COMPONENTS:
            add_error(
                errors,
                ["components"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_V2_COMPONENTS} or fewer in length.",
            )
        return
    if len(components) > MAX_ROWS:
        add_error(
            errors,
            ["components"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {MAX_ROWS} or fewer in length.",
        )
    for i, row in enumerate(components):
        path: list[str | int] = ["components", i]
        if row.get("type") != 1:
            add_error(
                errors,
                [*path, "type"],
                "UNION_TYPE_CHOICES",
                "Value of field 'type' must be one of (1,).",
            )
            continue
        items = row.get("components") or []
        if not items:
            add_error(errors, [*path, "components"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more.")
        if len(items) > MAX_ROW_ITEMS:
            add_error(
                errors,
                [*path, "components"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_ROW_ITEMS} or fewer in length.",
            )
        if any(it.get("type") in _SELECT_TYPES for it in items) and len(items) > 1:
            add_error(
                errors,
                [*path, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, item in enumerate(items):
            _check_item(errors, [*path, "components", j], item, seen)


def check_message(payload: dict[str, Any]) -> Errors:
    """Limits for a message create/edit body (content, embeds, components)."""
    errors: Errors = {}
    _max_len(errors, ["content"], payload.get("content"), MAX_CONTENT)
    check_embeds(errors, payload.get("embeds"))
    check_components(errors, payload.get("components"), flags=int(payload.get("flags") or 0))
    allowed = payload.get("allowed_mentions") or {}
    for key in ("users", "roles"):
        if len(allowed.get(key) or []) > 100:
            add_error(
                errors,
                ["allowed_mentions", key],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            )
    return errors


def is_empty_message(payload: dict[str, Any], *, has_files: bool) -> bool:
    return not (
        (payload.get("content") or "").strip()
        or payload.get("embeds")
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
        or has_files
    )


def check_modal(data: dict[str, Any]) -> Errors:
    errors: Errors = {}
    title = data.get("title")
    if not title:
        add_error(errors, ["data", "title"], "BASE_TYPE_REQUIRED", "This field is required")
    _max_len(errors, ["data", "title"], title, MAX_MODAL_TITLE)
    custom_id = data.get("custom_id")
    if not custom_id:
        add_error(errors, ["data", "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
    _max_len(errors, ["data", "custom_id"], custom_id, MAX_CUSTOM_ID)
    components = data.get("components") or []
    if not components:
        add_error(errors, ["data", "components"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more.")
    if len(components) > MAX_MODAL_COMPONENTS:
        add_error(
            errors,
            ["data", "components"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {MAX_MODAL_COMPONENTS} or fewer in length.",
        )
    seen: set[str] = set()
    for i, comp in enumerate(components):
        path: list[str | int] = ["data", "components", i]
        inner: list[tuple[list[str | int], dict[str, Any]]] = []
        if comp.get("type") == 1:
            inner = [
                ([*path, "components", j], c) for j, c in enumerate(comp.get("components", []))
            ]
        elif comp.get("type") == 18:
            _max_len(errors, [*path, "label"], comp.get("label"), 45)
            _max_len(errors, [*path, "description"], comp.get("description"), 100)
            inner = [([*path, "component"], comp.get("component") or {})]
        for p, item in inner:
            if item.get("type") == 4:
                _max_len(errors, [*p, "label"], item.get("label"), 45)
                _max_len(errors, [*p, "placeholder"], item.get("placeholder"), 100)
                _max_len(errors, [*p, "value"], item.get("value"), MAX_TEXT_INPUT_LENGTH)
                max_length = item.get("max_length")
                if max_length is not None and not 1 <= int(max_length) <= MAX_TEXT_INPUT_LENGTH:
                    add_error(
                        errors,
                        [*p, "max_length"],
                        "NUMBER_TYPE_MAX",
                        f"int value should be less than or equal to {MAX_TEXT_INPUT_LENGTH}.",
                    )
                min_length = item.get("min_length")
                if min_length is not None and not 0 <= int(min_length) <= MAX_TEXT_INPUT_LENGTH:
                    add_error(
                        errors,
                        [*p, "min_length"],
                        "NUMBER_TYPE_MAX",
                        f"int value should be less than or equal to {MAX_TEXT_INPUT_LENGTH}.",
                    )
                _check_custom_id(errors, p, item, seen)
            else:
                _check_item(errors, p, item, seen)
    return errors


def check_autocomplete(data: dict[str, Any]) -> Errors:
    errors: Errors = {}
    choices = data.get("choices") or []
    if len(choices) > MAX_AUTOCOMPLETE_CHOICES:
        add_error(
            errors,
            ["data", "choices"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {MAX_AUTOCOMPLETE_CHOICES} or fewer in length.",
        )
    for i, choice in enumerate(choices):
        _max_len(errors, ["data", "choices", i, "name"], choice.get("name"), 100)
        if isinstance(choice.get("value"), str):
            _max_len(errors, ["data", "choices", i, "value"], choice.get("value"), 100)
    return errors


def _check_options(errors: Errors, path: Path, options: list[dict[str, Any]]) -> None:
    if len(options) > 25:
        add_error(errors, path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    for i, opt in enumerate(options):
        p = [*path, i]
        name = str(opt.get("name", ""))
        if not _COMMAND_NAME.match(name) or name != name.lower():
            add_error(errors, [*p, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
        if name in names:
            add_error(
                errors,
                [*p, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        desc = opt.get("description") or ""
        if not 1 <= len(desc) <= 100:
            add_error(
                errors,
                [*p, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if len(opt.get("choices") or []) > 25:
            add_error(
                errors, [*p, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        if opt.get("type") in (1, 2):
            _check_options(errors, [*p, "options"], opt.get("options") or [])
            continue
        if opt.get("required"):
            if seen_optional:
                add_error(
                    errors,
                    [*p, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True


def check_commands(commands: list[dict[str, Any]]) -> Errors:
    """Validate a bulk-overwrite body for application commands."""
    errors: Errors = {}
    seen: set[tuple[int, str]] = set()
    counts = {1: 0, 2: 0, 3: 0}
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type", 1) or 1)
        counts[ctype] = counts.get(ctype, 0) + 1
        name = str(cmd.get("name", ""))
        if ctype == 1:
            if not _COMMAND_NAME.match(name) or name != name.lower():
                add_error(errors, [i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
            desc = cmd.get("description") or ""
            if not 1 <= len(desc) <= 100:
                add_error(
                    errors,
                    [i, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            _check_options(errors, [i, "options"], cmd.get("options") or [])
        elif not 1 <= len(name) <= 32:
            add_error(
                errors, [i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
            )
        if (ctype, name) in seen:
            add_error(
                errors,
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique ({name})",
            )
        seen.add((ctype, name))
    if counts.get(1, 0) > 100:
        add_error(errors, ["_"], "BASE_TYPE_MAX_LENGTH", "Max 100 chat input commands")
    for ctype in (2, 3):
        if counts.get(ctype, 0) > 5:
            add_error(errors, ["_"], "BASE_TYPE_MAX_LENGTH", "Max 5 context menu commands per type")
    return errors
