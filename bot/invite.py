"""The invite URL with exactly the permissions CohortBot needs."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

import discord

from bot.permissions import invite_permission_names

PLACEHOLDER_ID = "YOUR_APPLICATION_ID"


def required_permissions() -> discord.Permissions:
    return discord.Permissions(**dict.fromkeys(invite_permission_names(), True))


def application_id_from_token(token: str | None) -> int | None:
    """A bot token's first segment is its user id (= the application id) in base64."""
    if not token or "." not in token:
        return None
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=False).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isdigit() else None


def invite_url(application_id: int | None) -> str:
    query = urlencode(
        {
            "client_id": application_id if application_id is not None else PLACEHOLDER_ID,
            "scope": "bot applications.commands",
            "permissions": required_permissions().value,
        }
    )
    return f"https://discord.com/oauth2/authorize?{query}"
