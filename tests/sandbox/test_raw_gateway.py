"""The gateway protocol itself, with two raw websocket clients (no discord.py)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from sandbox.server import SandboxServer


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    data: dict[str, Any] = json.loads(msg.data)
    return data


async def _identify(ws: aiohttp.ClientWebSocketResponse) -> str:
    hello = await _next(ws)
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    await ws.send_str(json.dumps({"op": 1, "d": None}))
    assert (await _next(ws))["op"] == 11
    await ws.send_str(json.dumps({"op": 2, "d": {"token": "t", "intents": 0, "properties": {}}}))
    ready = await _next(ws)
    assert (ready["t"], ready["s"]) == ("READY", 1)
    return str(ready["d"]["session_id"])


async def test_two_clients_each_get_every_event_in_sequence(sandbox: SandboxServer) -> None:
    owner = sandbox.create_user("owner")
    guild_id = sandbox.create_guild("G", owner_id=owner)
    general = sandbox.find_channel(guild_id, "general")
    assert general is not None
    async with aiohttp.ClientSession() as session:
        first = await session.ws_connect(sandbox.gateway_url + "?v=10&encoding=json")
        second = await session.ws_connect(sandbox.gateway_url)
        for ws in (first, second):
            await _identify(ws)
            created = await _next(ws)
            assert (created["t"], created["s"]) == ("GUILD_CREATE", 2)
            assert created["d"]["member_count"] == len(created["d"]["members"]) == 2
        await sandbox.wait_until_ready()
        await sandbox.send_message(general, owner, "hello")
        for ws in (first, second):
            event = await _next(ws)
            assert (event["t"], event["s"], event["d"]["content"]) == ("MESSAGE_CREATE", 3, "hello")
        await first.send_str(
            json.dumps(
                {"op": 8, "d": {"guild_id": str(guild_id), "query": "", "limit": 0, "nonce": "n1"}}
            )
        )
        chunk = await _next(first)
        assert chunk["t"] == "GUILD_MEMBERS_CHUNK" and chunk["d"]["nonce"] == "n1"
        await first.close()
        await second.close()


async def test_resume_replays_missed_events(sandbox: SandboxServer) -> None:
    owner = sandbox.create_user("owner")
    guild_id = sandbox.create_guild("G", owner_id=owner)
    general = sandbox.find_channel(guild_id, "general")
    assert general is not None
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(sandbox.gateway_url)
        session_id = await _identify(ws)
        assert (await _next(ws))["t"] == "GUILD_CREATE"
        await sandbox.disconnect_gateway()
        closed = await ws.receive(timeout=5)
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4000
        await sandbox.send_message(general, owner, "missed")
        ws = await session.ws_connect(sandbox.gateway_url)
        assert (await _next(ws))["op"] == 10
        await ws.send_str(
            json.dumps({"op": 6, "d": {"token": "t", "session_id": session_id, "seq": 2}})
        )
        replayed = await _next(ws)
        assert (replayed["t"], replayed["s"], replayed["d"]["content"]) == (
            "MESSAGE_CREATE",
            3,
            "missed",
        )
        assert (await _next(ws))["t"] == "RESUMED"
        await ws.close()
        bad = await session.ws_connect(sandbox.gateway_url)
        await _next(bad)
        await bad.send_str(json.dumps({"op": 6, "d": {"session_id": "nope", "seq": 1}}))
        assert (await _next(bad)) == {"op": 9, "d": False}
        await bad.close()


async def test_privileged_intents_not_enabled_closes_with_4014(sandbox: SandboxServer) -> None:
    import discord

    from sandbox.connect import current_endpoints, point_discord_at, restore_endpoints
    from tests.support.sandbox_bot import SandboxTestBot

    sandbox.privileged_intents_enabled = False
    saved = current_endpoints()
    point_discord_at(sandbox.api_base, sandbox.gateway_url)
    client = SandboxTestBot()
    try:
        try:
            await client.start("sandbox-token")
        except discord.PrivilegedIntentsRequired:
            pass
        else:
            raise AssertionError("expected PrivilegedIntentsRequired")
    finally:
        await client.close()
        restore_endpoints(saved)
