"""The baseline: a bare discord.py client with CohortBot's intents that only counts messages.

``python -m bench.bare_client`` reads DISCORD_TOKEN, DISCORD_API_BASE and DISCORD_GATEWAY_URL
like ``python -m bot`` does. It answers every interaction with what it has counted
(``messages=N members=M``), which is how a benchmark knows it has read everything sent before,
and it stops cleanly on SIGTERM. It imports nothing from CohortBot beyond where to connect,
so its start-up time and memory are discord.py's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

import discord

from bot.endpoints import point_discord_at


def bare_intents() -> discord.Intents:
    """The same intents as ``bot.client.build_intents`` (a test checks they stay equal)."""
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    return intents


class CountingClient(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=bare_intents(), allowed_mentions=discord.AllowedMentions.none())
        self.messages_seen = 0

    async def on_message(self, message: discord.Message) -> None:
        self.messages_seen += 1

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        members = sum(len(guild.members) for guild in self.guilds)
        await interaction.response.send_message(
            f"messages={self.messages_seen} members={members}", ephemeral=True
        )


async def run(token: str) -> int:
    client = CountingClient()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with client:
        runner = asyncio.create_task(client.start(token))
        stopper = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()
        else:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        stopper.cancel()
    return 0


def main() -> int:
    token = os.environ["DISCORD_TOKEN"]
    api_base = os.environ.get("DISCORD_API_BASE")
    gateway = os.environ.get("DISCORD_GATEWAY_URL")
    if api_base and gateway:
        point_discord_at(api_base, gateway)
    return asyncio.run(run(token))


if __name__ == "__main__":
    sys.exit(main())
