"""Point discord.py at a Discord-compatible server (the sandbox) instead of Discord."""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


def point_discord_at(api_base: str, gateway_url: str) -> None:
    """Must run before the client starts; discord.py reads these class attributes."""
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def current_endpoints() -> tuple[str, yarl.URL]:
    return discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def restore_endpoints(saved: tuple[str, yarl.URL]) -> None:
    discord.http.Route.BASE = saved[0]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved[1]
