"""Pure text helpers: Discord's limits, user-text cleaning and template rendering.

No discord import and no I/O, so every rule here is property-tested.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

MESSAGE_LIMIT = 2000
CUSTOM_ID_LIMIT = 100
MODAL_INPUT_LIMIT = 4000


@dataclass(frozen=True)
class EmbedLimits:
    """Discord's limits on embeds: characters of each part, and how many of a kind."""

    title: int = 256
    description: int = 4096
    fields: int = 25  # fields in one embed
    field_name: int = 256
    field_value: int = 1024
    footer: int = 2048
    author: int = 256
    total: int = 6000  # characters of all the embeds of one message together
    per_message: int = 10  # embeds in one message


EMBED_LIMITS = EmbedLimits()

# Characters that render as nothing; text made only of these counts as empty.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2800\u3164\\s]+")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class TextError(ValueError):
    """User text that cannot be used; the message says why in plain words."""


def is_blank(text: str | None) -> bool:
    return text is None or _INVISIBLE.fullmatch(text) is not None or text == ""


def clean_user_text(text: str | None, *, field: str, limit: int) -> str:
    """Strip surrounding whitespace and refuse empty or over-long text."""
    if text is None or is_blank(text):
        raise TextError(f"{field} is empty — please write something.")
    stripped = text.strip()
    if len(stripped) > limit:
        raise TextError(f"{field} is {len(stripped)} characters; the limit is {limit}.")
    return stripped


def shorten(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Fit text into limit characters, marking the cut (never silently)."""
    if limit < len(ellipsis):
        raise ValueError("limit shorter than the ellipsis")
    if len(text) <= limit:
        return text
    return text[: limit - len(ellipsis)].rstrip() + ellipsis


#: How much of a person's own input a reply quotes back (a name, a key, a time zone, a date).
QUOTE_LIMIT = 60
# Bidirectional controls would flip the rest of the reply; line breaks would break its layout.
_UNQUOTABLE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\x00-\x1f\x7f]+")
_MARKDOWN = re.compile(r"([\\*_~`|\[\]])")


def quote_input(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A user-supplied value as quoted back in a reply or post: “value”, at most ``limit``
    characters of it (cut with …), on one line, with markdown and mentions made inert
    (``@everyone``, ``<@id>``, ``<#id>`` show as typed but ping, link and format nothing).

    Every reply that echoes input goes through here, so no echo can push a message over
    Discord's limits, reverse the text around it or ping anyone."""
    text = _UNQUOTABLE.sub(" ", str(value)).strip()
    text = shorten(text, max(limit, 1))
    text = _MARKDOWN.sub(r"\\\1", text)
    # A zero-width space after "@" and "<" stops @everyone/@here, <@id>, <@&id> and <#id>
    # from being mentions or links.
    text = text.replace("@", "@\u200b").replace("<", "<\u200b")
    return f"“{text}”"


def chunk_lines(lines: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join lines into as few chunks as possible, each at most `limit` characters.

    A single line longer than the limit is split hard; no text is lost.
    """
    chunks: list[str] = []
    current = ""
    for line in lines:
        pieces = [line[i : i + limit] for i in range(0, len(line), limit)] or [""]
        for piece in pieces:
            candidate = piece if not current else f"{current}\n{piece}"
            if len(candidate) <= limit:
                current = candidate
            else:
                chunks.append(current)
                current = piece
    if current or not chunks:
        chunks.append(current)
    return chunks


#: A CSV cell starting with one of these is a formula in a spreadsheet (OWASP's list for CSV
#: injection); one starting with "'" is guarded too, so reading a written file back is exact.
CSV_GUARDED = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text and never runs: a guarded first character gets a
    ``'`` in front (every CSV the bot writes goes through this)."""
    return "'" + text if text.startswith(CSV_GUARDED) else text


def discord_time(instant: datetime, style: str = "f") -> str:
    """Discord's timestamp markup: each reader sees ``instant`` in their own time zone
    (``style``: f date and time, R relative, D date, d short date)."""
    return f"<t:{int(instant.timestamp())}:{style}>"


def placeholders_in(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace {name} placeholders; unknown ones are left as written.

    Deliberately not str.format: instructor-edited text must not reach attribute lookups.
    """
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class TemplateSpec:
    key: str
    description: str
    placeholders: tuple[str, ...]
    default: str


def validate_template(spec: TemplateSpec, body: str) -> str:
    """Check an instructor's edit: not empty, within a message, only known placeholders."""
    cleaned = clean_user_text(body, field="The text", limit=MESSAGE_LIMIT - 200)
    unknown = placeholders_in(cleaned) - set(spec.placeholders)
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in spec.placeholders) or "none"
        raise TextError(
            f"Unknown placeholder {', '.join('{' + u + '}' for u in sorted(unknown))}. "
            f"This text can use: {allowed}."
        )
    return cleaned
