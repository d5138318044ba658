"""Fixtures for the sandbox's own tests: a sandbox world and a bare discord.py bot in it
(the `sandbox` fixture itself is shared, in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from sandbox.connect import current_endpoints, point_discord_at, restore_endpoints
from sandbox.server import SandboxServer
from tests.support.sandbox_bot import BOT_PERMISSIONS, SandboxTestBot, World


@pytest.fixture
async def world(sandbox: SandboxServer) -> World:
    owner = sandbox.create_user("Owner")
    guild_id = sandbox.create_guild("Test Course", owner_id=owner, bot_permissions=BOT_PERMISSIONS)
    alice = sandbox.create_user("alice", global_name="Alice")
    bob = sandbox.create_user("bob")
    student = sandbox.create_role(guild_id, "Student")
    await sandbox.add_member(guild_id, alice, roles=[student])
    await sandbox.add_member(guild_id, bob)
    general = sandbox.find_channel(guild_id, "general")
    assert general is not None
    return World(sandbox, guild_id, owner, alice, bob, general, student)


@pytest.fixture
async def bot(sandbox: SandboxServer, world: World) -> AsyncIterator[SandboxTestBot]:
    saved = current_endpoints()
    point_discord_at(sandbox.api_base, sandbox.gateway_url)
    client = SandboxTestBot()
    task = asyncio.create_task(client.start("sandbox-token"))
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert ready in done, "the bot did not become ready"
        await sandbox.wait_until_ready()
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # a bad payload raises out of Client.start()
        restore_endpoints(saved)
    assert not sandbox.unknown_routes, sandbox.unknown_routes
    assert not client.errors, client.errors
