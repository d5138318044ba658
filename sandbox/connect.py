"""Point an unmodified discord.py at a Discord-compatible server (the sandbox)."""

from __future__ import annotations

import discord
import discord.gateway
import discord.http
import yarl


def point_discord_at(api_base: str, gateway_url: str) -> None:
    """Send discord.py's REST calls to ``api_base`` and its gateway to ``gateway_url``.

    ``api_base`` looks like ``http://127.0.0.1:PORT/api/v10``; ``gateway_url`` like
    ``ws://127.0.0.1:PORT/``. Affects every client in the process: call before ``start()``.
    """
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def current_endpoints() -> tuple[str, yarl.URL]:
    """The endpoints discord.py uses now (to restore them after a test)."""
    return discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def restore_endpoints(endpoints: tuple[str, yarl.URL]) -> None:
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = endpoints
