"""The sandbox speaks sharding: /gateway/bot, IDENTIFY's shard, per-shard events, 4010/4011,
IDENTIFY pacing and the per-token global rate limit (raw websockets and discord.py's
AutoShardedClient)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl

from sandbox.connect import current_endpoints, point_discord_at, restore_endpoints
from sandbox.server import SandboxError, SandboxServer


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    data: dict[str, Any] = json.loads(msg.data)
    return data


async def _send_identify(ws: aiohttp.ClientWebSocketResponse, shard: Any = None) -> None:
    assert (await _next(ws))["op"] == 10
    data: dict[str, Any] = {"token": "t", "intents": 0, "properties": {}}
    if shard is not None:
        data["shard"] = shard
    await ws.send_str(json.dumps({"op": 2, "d": data}))


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.CLOSE, msg
    return ws.close_code


def _received(sandbox: SandboxServer, shard_id: int) -> list[tuple[str, int | None]]:
    """(event, guild id) of every dispatch the session of ``shard_id`` was sent."""
    out: list[tuple[str, int | None]] = []
    for session in sandbox.gateway.sessions.values():
        if session.shard_id != shard_id:
            continue
        for _, frame in session.log:
            payload = json.loads(frame)
            data = payload["d"]
            raw = data.get("guild_id")
            if payload["t"] == "GUILD_CREATE":
                raw = data["id"]
            out.append((payload["t"], int(raw) if raw is not None else None))
    return out


# ---------------------------------------------------------------------- raw protocol


async def test_gateway_bot_recommends_the_configured_shards(sandbox: SandboxServer) -> None:
    sandbox.shards = 2
    sandbox.max_concurrency = 2
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.api_base + "/gateway/bot") as response:
            before = await response.json()
        ws = await http.ws_connect(sandbox.gateway_url)
        await _send_identify(ws, [1, 2])
        ready = await _next(ws)
        assert ready["t"] == "READY" and ready["d"]["shard"] == [1, 2]
        async with http.get(sandbox.api_base + "/gateway/bot") as response:
            after = await response.json()
        await ws.close()
    assert before["url"] == sandbox.gateway_url and before["shards"] == 2
    limit = before["session_start_limit"]
    assert set(limit) == {"total", "remaining", "reset_after", "max_concurrency"}
    assert limit["max_concurrency"] == 2 and limit["remaining"] == limit["total"]
    assert after["session_start_limit"]["remaining"] == limit["remaining"] - 1


async def test_each_shard_gets_only_its_guilds_events_and_dms_go_to_shard_0(
    sandbox: SandboxServer,
) -> None:
    sandbox.shards = 2
    sandbox.max_concurrency = 2
    owner = sandbox.create_user("owner")
    alice = sandbox.create_user("alice")
    first = sandbox.create_guild("A", owner_id=owner, shard=0)
    second = sandbox.create_guild("B", owner_id=owner, shard=1)
    assert (sandbox.shard_of(first), sandbox.shard_of(second)) == (0, 1)
    assert ((first >> 22) % 2, (second >> 22) % 2) == (0, 1)
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(sandbox.gateway_url) for _ in range(2)]
        for shard_id, ws in enumerate(sockets):
            await _send_identify(ws, [shard_id, 2])
        for ws, guild_id in zip(sockets, (first, second), strict=True):
            ready = await _next(ws)
            assert [g["id"] for g in ready["d"]["guilds"]] == [str(guild_id)]
            created = await _next(ws)
            assert (created["t"], created["d"]["id"]) == ("GUILD_CREATE", str(guild_id))
        await sandbox.wait_until_shards_ready()
        for guild_id in (first, second):
            general = sandbox.find_channel(guild_id, "general")
            assert general is not None
            await sandbox.add_member(guild_id, alice)
            message = await sandbox.send_message(general, alice, "hi")
            await sandbox.add_reaction(general, int(message["id"]), alice, "👍")
            sandbox.create_thread(general, "talk", owner_id=alice)
            sandbox.register_command("ping", "Ping", guild_id=guild_id)
            await sandbox.invoke_slash(guild_id, general, alice, "ping")
        await sandbox.send_message(sandbox.dm_channel_of(alice), alice, "psst")
        guild_events = {"GUILD_MEMBER_ADD", "MESSAGE_CREATE", "MESSAGE_REACTION_ADD"}
        guild_events |= {"THREAD_CREATE", "INTERACTION_CREATE"}
        for shard_id, guild_id in ((0, first), (1, second)):
            received = _received(sandbox, shard_id)
            assert {g for _, g in received} <= {guild_id, None}
            assert guild_events <= {event for event, g in received if g == guild_id}
        assert ("MESSAGE_CREATE", None) in _received(sandbox, 0)
        assert ("MESSAGE_CREATE", None) not in _received(sandbox, 1)
        for ws in sockets:
            await ws.close()


@pytest.mark.parametrize(
    ("shards", "shard", "code"),
    [
        (1, [1, 1], 4010),
        (2, [2, 2], 4010),
        (2, [-1, 2], 4010),
        (2, [0, 0], 4010),
        (2, "0,2", 4010),
        (2, [0, 2, 1], 4010),
        (2, [True, 2], 4010),
        (2, None, 4011),
        (2, [0, 1], 4011),
        (2, [0, 3], 4011),
    ],
)
async def test_a_wrong_shard_is_closed(
    sandbox: SandboxServer, shards: int, shard: Any, code: int
) -> None:
    sandbox.shards = shards
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sandbox.gateway_url)
        await _send_identify(ws, shard)
        assert await _closed_with(ws) == code
    assert not sandbox.gateway.sessions


async def test_more_shards_than_recommended_are_accepted(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sandbox.gateway_url)
        await _send_identify(ws, [1, 2])
        assert (await _next(ws))["d"]["shard"] == [1, 2]
        await ws.close()


async def test_identify_is_paced_per_max_concurrency_bucket(sandbox: SandboxServer) -> None:
    sandbox.shards = 4
    sandbox.max_concurrency = 2
    sandbox.gateway.identify_interval = 60.0
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(sandbox.gateway_url) for _ in range(3)]
        for shard_id, ws in enumerate(sockets):
            await _send_identify(ws, [shard_id, 4])
        # Shards 0 and 1 are in different buckets; 2 shares shard 0's and must wait.
        assert (await _next(sockets[0]))["t"] == "READY"
        assert (await _next(sockets[1]))["t"] == "READY"
        assert await _next(sockets[2]) == {"op": 9, "d": False}
        assert sandbox.gateway.identify_refusals == [(2, 4)]
        sandbox.gateway.identify_interval = 0.0  # the bucket's 5 s are over
        await sockets[2].send_str(
            json.dumps({"op": 2, "d": {"token": "t", "intents": 0, "shard": [2, 4]}})
        )
        assert (await _next(sockets[2]))["t"] == "READY"
        for ws in sockets:
            await ws.close()


async def test_the_global_rate_limit_is_per_token_across_clients(sandbox: SandboxServer) -> None:
    sandbox.set_global_rate_limit(2)
    url = sandbox.api_base + "/gateway/bot"

    async def status(http: aiohttp.ClientSession, token: str) -> int:
        async with http.get(url, headers={"Authorization": f"Bot {token}"}) as response:
            return response.status

    async with aiohttp.ClientSession() as one, aiohttp.ClientSession() as two:
        # Two processes (shards) of one bot share its budget...
        assert [await status(one, "a"), await status(two, "a")] == [200, 200]
        assert await status(one, "a") == 429
        assert await status(two, "a") == 429
        # ...another bot has its own.
        assert await status(two, "b") == 200
    sandbox.set_global_rate_limit(None)


# ---------------------------------------------------------------------- discord.py


class ShardedClient(discord.AutoShardedClient):
    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, guild_ready_timeout=0.05, **options)
        #: (guild id or None for a DM, content) of every message seen
        self.seen: list[tuple[int | None, str]] = []

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s sleep: the sandbox paces IDENTIFYs itself (op 9 when too soon)."""

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append((message.guild.id if message.guild else None, message.content))


@contextlib.asynccontextmanager
async def running(*clients: ShardedClient) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c.start("sandbox-token")) for c in clients]
    try:
        for client, task in zip(clients, tasks, strict=True):
            ready = asyncio.create_task(client.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                task.result()
            assert ready in done, "the sharded client did not become ready"
        yield
    finally:
        for client in clients:
            await client.close()
        for task in tasks:
            # A shard that never connected keeps retrying inside start(): don't hang on it.
            done, _ = await asyncio.wait({task}, timeout=5)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def two_guilds(sandbox: SandboxServer) -> AsyncIterator[tuple[int, int, int, int]]:
    """Guild A on shard 0, guild B on shard 1 (of 2), a member in both; discord.py pointed at
    the sandbox. Yields (A's #general, B's #general, the member, guild A)."""
    sandbox.shards = 2
    sandbox.max_concurrency = 2
    owner = sandbox.create_user("owner")
    alice = sandbox.create_user("alice")
    generals = []
    for shard in (0, 1):
        guild_id = sandbox.create_guild(f"G{shard}", owner_id=owner, shard=shard)
        await sandbox.add_member(guild_id, alice)
        general = sandbox.find_channel(guild_id, "general")
        assert general is not None
        generals.append(general)
    saved = current_endpoints()
    point_discord_at(sandbox.api_base, sandbox.gateway_url)
    try:
        yield generals[0], generals[1], alice, sandbox.world.channels[generals[0]].guild_id or 0
    finally:
        restore_endpoints(saved)


async def test_one_client_with_both_shards(
    sandbox: SandboxServer, two_guilds: tuple[int, int, int, int]
) -> None:
    general_a, general_b, alice, guild_a = two_guilds
    client = ShardedClient(shard_count=2, shard_ids=[0, 1])
    async with running(client):
        await sandbox.wait_until_shards_ready()
        assert {g.id: g.shard_id for g in client.guilds} == {
            g: sandbox.shard_of(g) for g in sandbox.world.guilds
        }
        await sandbox.send_message(general_a, alice, "to A")
        await sandbox.send_message(general_b, alice, "to B")
        await sandbox.send_message(sandbox.dm_channel_of(alice), alice, "dm")
        await sandbox.wait_for(lambda: len(client.seen) == 3)
        # The sandbox sent guild A's events and the DM on shard 0 only, B's on shard 1 only.
        assert [g for _, g in _received(sandbox, 0) if g is not None] == [guild_a] * 2
        assert ("MESSAGE_CREATE", None) in _received(sandbox, 0)
        assert all(g not in (guild_a, None) for e, g in _received(sandbox, 1) if e != "READY")
    assert ("GET", "/gateway/bot", None) not in sandbox.requests  # shard_count was given


async def test_two_processes_one_shard_each(
    sandbox: SandboxServer, two_guilds: tuple[int, int, int, int]
) -> None:
    general_a, general_b, alice, guild_a = two_guilds
    guild_b = sandbox.world.channels[general_b].guild_id
    zero = ShardedClient(shard_count=2, shard_ids=[0])
    one = ShardedClient(shard_count=2, shard_ids=[1])
    async with running(zero, one):
        await sandbox.wait_until_shards_ready()
        assert [g.id for g in zero.guilds] == [guild_a]
        assert [g.id for g in one.guilds] == [guild_b]
        await sandbox.send_message(general_a, alice, "to A")
        await sandbox.send_message(general_b, alice, "to B")
        await sandbox.send_message(sandbox.dm_channel_of(alice), alice, "dm")
        # A last message on each shard: events arrive in order, so all before it were seen.
        await sandbox.send_message(general_a, alice, "end A")
        await sandbox.send_message(general_b, alice, "end B")
        await sandbox.wait_for(lambda: (guild_a, "end A") in zero.seen)
        await sandbox.wait_for(lambda: (guild_b, "end B") in one.seen)
    assert zero.seen == [(guild_a, "to A"), (None, "dm"), (guild_a, "end A")]
    assert one.seen == [(guild_b, "to B"), (guild_b, "end B")]


async def test_auto_sharding_uses_the_url_from_gateway_bot(
    sandbox: SandboxServer, two_guilds: tuple[int, int, int, int]
) -> None:
    # AutoShardedClient without shard_count asks GET /gateway/bot (under Route.BASE) for the
    # count and connects to the URL it returns, not to DEFAULT_GATEWAY.
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("ws://127.0.0.1:9/")
    client = ShardedClient()
    async with running(client):
        await sandbox.wait_until_shards_ready()
        assert client.shard_count == 2 and set(client.shards) == {0, 1}
    assert ("GET", "/gateway/bot", None) in sandbox.requests


async def test_a_too_fast_identify_is_retried_on_default_gateway(
    sandbox: SandboxServer, two_guilds: tuple[int, int, int, int]
) -> None:
    # One bucket: shard 1's IDENTIFY right after shard 0's gets op 9; discord.py identifies
    # again (on DEFAULT_GATEWAY) until the bucket is free.
    sandbox.max_concurrency = 1
    sandbox.gateway.identify_interval = 0.05
    client = ShardedClient(shard_count=2)
    async with running(client):
        await sandbox.wait_until_shards_ready()
    assert sandbox.gateway.identify_refusals and set(sandbox.gateway.identify_refusals) == {(1, 2)}


def test_create_guild_refuses_a_shard_outside_the_count(sandbox: SandboxServer) -> None:
    owner = sandbox.create_user("owner")
    with pytest.raises(SandboxError):
        sandbox.create_guild("G", owner_id=owner, shard=1)
