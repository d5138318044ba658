"""The sandbox gateway: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME, op 8 chunks.

Sharding as Discord does it: a session IDENTIFYs as ``[shard_id, shard_count]`` (none means
``[0, 1]``) and gets only its guilds' events, a guild's shard being ``(guild_id >> 22) %
shard_count``; events outside any guild (DMs) go to shard 0. A bad shard is closed with 4010, a
shard count other than the one the sandbox requires (when it has more than one shard) with 4011,
and sharded IDENTIFYs in one ``max_concurrency`` bucket closer together than
``identify_interval`` get op 9 (invalid session), as Discord answers a too-fast IDENTIFY.

Every session gets every event of its shard, in order, with its own sequence numbers. Events
are queued and written by one writer task per connection, so ``dispatch`` is synchronous and
never interleaves frames. A session keeps a log of what it was sent so a RESUME can replay what
it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.world import JSON, World

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_MS = 41250
LOG_LIMIT = 5000
#: Discord sends a large guild's members in chunks of at most this many.
MEMBERS_PER_CHUNK = 1000
#: discord.py's IDENTIFY asks for 250: above it GUILD_CREATE carries no offline members.
DEFAULT_LARGE_THRESHOLD = 250
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)
#: Discord lets a bot start this many sessions a day (``session_start_limit.total``).
SESSION_START_TOTAL = 1000
SESSION_START_WINDOW = 24 * 3600.0
#: Discord allows one IDENTIFY per bucket per this many seconds.
IDENTIFY_INTERVAL = 5.0
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011

QueueItem = str | Callable[[], None] | None


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard that receives a guild's events; events outside a guild go to shard 0."""
    if guild_id is None:
        return 0
    return (guild_id >> 22) % shard_count


def event_guild(event: str, data: JSON) -> int | None:
    """The guild an event belongs to (None for DMs and other events outside a guild)."""
    raw = data.get("guild_id")
    if raw is None and event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        raw = data.get("id")
    return int(raw) if raw is not None else None


def parse_shard(raw: Any) -> tuple[int, int] | None:
    """``[shard_id, shard_count]`` from an IDENTIFY, or None when it is not a valid shard."""
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        return None
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        return None
    shard_id, count = raw
    if count < 1 or not 0 <= shard_id < count:
        return None
    return shard_id, count


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[QueueItem] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None

    def send(self, item: QueueItem) -> None:
        self.queue.put_nowait(item)

    async def run_writer(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if callable(item):
                item()
                continue
            if self.ws.closed:
                continue
            try:
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):  # pragma: no cover - peer went away
                return


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    # A bounded deque: appending to a full one is O(1), so long event streams stay cheap.
    log: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))
    conn: Connection | None = None
    ready_sent: bool = False
    alive: bool = True
    large_threshold: int = DEFAULT_LARGE_THRESHOLD
    shard_id: int = 0
    shard_count: int = 1

    def receives(self, guild_id: int | None) -> bool:
        return self.shard_count == 1 or shard_of(guild_id, self.shard_count) == self.shard_id

    def push(self, event: str, data_json: str) -> None:
        self.seq += 1
        frame = f'{{"op":0,"t":"{event}","s":{self.seq},"d":{data_json}}}'
        self.log.append((self.seq, frame))
        if self.conn is not None:
            self.conn.send(frame)


class Gateway:
    def __init__(self, world: World, gateway_url: Callable[[], str]) -> None:
        self.world = world
        self._gateway_url = gateway_url
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        #: set to False to refuse privileged intents with close code 4014, like an unconfigured app
        self.privileged_intents_enabled = True
        self.events: list[tuple[str, JSON]] = []
        #: (guild id, members sent) for every op 8 request answered, in order
        self.member_requests: list[tuple[int, int]] = []
        #: the shard count ``GET /gateway/bot`` recommends; above 1 it is also required (4011)
        self.shard_count = 1
        self.max_concurrency = 1
        #: seconds between two sharded IDENTIFYs of one bucket (Discord: 5; tests make it tiny)
        self.identify_interval = IDENTIFY_INTERVAL
        #: (shard id, shard count) of every IDENTIFY refused with op 9 for coming too soon
        self.identify_refusals: list[tuple[int, int]] = []
        self._last_identify: dict[int, float] = {}
        self._starts_remaining = SESSION_START_TOTAL
        self._starts_reset_at = 0.0

    # ------------------------------------------------------------------ sharding
    def bot_info(self) -> JSON:
        """The body of ``GET /gateway/bot``: this gateway's URL, shards and session start limit."""
        now = self._roll_session_window()
        return {
            "url": self._gateway_url(),
            "shards": self.shard_count,
            "session_start_limit": {
                "total": SESSION_START_TOTAL,
                "remaining": self._starts_remaining,
                "reset_after": int((self._starts_reset_at - now) * 1000),
                "max_concurrency": self.max_concurrency,
            },
        }

    def _roll_session_window(self) -> float:
        """Refill the day's session starts once their window has passed; returns now."""
        now = time.monotonic()
        if now >= self._starts_reset_at:
            self._starts_remaining = SESSION_START_TOTAL
            self._starts_reset_at = now + SESSION_START_WINDOW
        return now

    def ready_shards(self) -> set[int]:
        """The shard ids with a connected session that has been sent READY and its guilds."""
        return {
            s.shard_id
            for s in self.sessions.values()
            if s.alive and s.conn is not None and s.ready_sent
        }

    def _identify_too_soon(self, shard_id: int) -> bool:
        """Claim the IDENTIFY slot of this shard's bucket; True if the bucket is still busy."""
        bucket = shard_id % max(1, self.max_concurrency)
        now = time.monotonic()
        last = self._last_identify.get(bucket)
        if last is not None and now - last < self.identify_interval:
            return True
        self._last_identify[bucket] = now
        return False

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, event: str, data: JSON) -> None:
        self.events.append((event, data))
        data_json = json.dumps(data)
        guild_id = event_guild(event, data)
        for session in self.sessions.values():
            if session.alive and session.receives(guild_id):
                session.push(event, data_json)

    def dispatch_serialized(self, event: str, frames: Iterable[str]) -> int:
        """Dispatch many events whose ``d`` is already JSON text (a benchmark's stream).

        Skips ``events`` (which would hold every payload) and re-serialising; returns how many
        events were queued for each live session."""
        live = [s for s in self.sessions.values() if s.alive]
        sharded = any(s.shard_count > 1 for s in live)
        count = 0
        for data_json in frames:
            count += 1
            # Parsed only when sharded: the unsharded stream stays as cheap as before.
            guild_id = event_guild(event, json.loads(data_json)) if sharded else None
            for session in live:
                if not sharded or session.receives(guild_id):
                    session.push(event, data_json)
        return count

    def backlog(self) -> int:
        """Frames queued for the connected clients and not yet written to their sockets."""
        return sum(conn.queue.qsize() for conn in self.connections)

    def is_ready(self) -> bool:
        return any(s.alive and s.conn is not None and s.ready_sent for s in self.sessions.values())

    async def disconnect_all(self, code: int = 4000) -> None:
        for session in list(self.sessions.values()):
            conn = session.conn
            if conn is not None:
                session.conn = None
                conn.send(None)
                await conn.ws.close(code=code, message=b"sandbox disconnect")

    async def close(self) -> None:
        for session in self.sessions.values():
            session.alive = False
        for conn in list(self.connections):
            conn.send(None)
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"sandbox stopping")
            if conn.writer is not None:
                with contextlib.suppress(Exception):
                    await conn.writer
        self.connections.clear()

    # ------------------------------------------------------------------ websocket
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws)
        conn.writer = asyncio.create_task(conn.run_writer())
        self.connections.add(conn)
        session: Session | None = None
        conn.send(json.dumps({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                op = payload.get("op")
                data = payload.get("d")
                if op == 1:
                    conn.send(json.dumps({"op": 11}))
                elif op == 2:
                    session = await self._identify(conn, data or {})
                elif op == 6:
                    session = self._resume(conn, data or {})
                elif op == 8 and session is not None:
                    self._request_members(session, data or {})
                # op 3 presence / op 4 voice: accepted and ignored
        finally:
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code == 1000:
                    # a clean close by the client ends the session (discord.py's Client.close)
                    session.alive = False
                    self.sessions.pop(session.id, None)
            conn.send(None)
            if conn.writer is not None:
                with contextlib.suppress(Exception):
                    await conn.writer
            self.connections.discard(conn)
            self.world.changed()
        return ws

    async def _identify(self, conn: Connection, data: JSON) -> Session | None:
        intents = int(data.get("intents") or 0)
        if not self.privileged_intents_enabled and intents & PRIVILEGED_INTENTS:
            conn.send(None)
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard = parse_shard(data["shard"]) if "shard" in data else (0, 1)
        if shard is None:
            conn.send(None)
            await conn.ws.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return None
        shard_id, shard_count = shard
        if self.shard_count > 1 and shard_count != self.shard_count:
            conn.send(None)
            await conn.ws.close(code=CLOSE_SHARDING_REQUIRED, message=b"Sharding required.")
            return None
        if shard_count > 1 and self._identify_too_soon(shard_id):
            # Discord's answer to an IDENTIFY over the concurrency limit: try again later.
            self.identify_refusals.append(shard)
            conn.send(json.dumps({"op": 9, "d": False}))
            self.world.changed()
            return None
        self._roll_session_window()
        self._starts_remaining = max(0, self._starts_remaining - 1)
        session = Session(
            id=secrets.token_hex(16),
            intents=intents,
            conn=conn,
            large_threshold=int(data.get("large_threshold") or DEFAULT_LARGE_THRESHOLD),
            shard_id=shard_id,
            shard_count=shard_count,
        )
        self.sessions[session.id] = session
        world = self.world
        bot = world.user(world.bot_user_id).payload()
        bot.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        guilds = [g for g in world.guilds if session.receives(g)]
        ready: JSON = {
            "v": 10,
            "user": bot,
            "user_settings": {},
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self._gateway_url(),
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": str(world.application_id), "flags": 0},
        }
        if "shard" in data:
            ready["shard"] = [shard_id, shard_count]
        session.push("READY", json.dumps(ready))
        for guild_id in guilds:
            payload = world.guild_create_payload(guild_id, large_threshold=session.large_threshold)
            session.push("GUILD_CREATE", json.dumps(payload))

        def mark_ready() -> None:
            session.ready_sent = True
            world.changed()

        conn.send(mark_ready)
        return session

    def _resume(self, conn: Connection, data: JSON) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.alive:
            conn.send(json.dumps({"op": 9, "d": False}))
            return None
        last = int(data.get("seq") or 0)
        old = session.conn
        if old is not None and old is not conn:
            old.send(None)
        session.conn = conn
        for seq, frame in session.log:
            if seq > last:
                conn.send(frame)
        session.push("RESUMED", json.dumps({}))

        def mark_ready() -> None:
            session.ready_sent = True
            self.world.changed()

        conn.send(mark_ready)
        return session

    def _request_members(self, session: Session, data: JSON) -> None:
        world = self.world
        guild_id = int(data["guild_id"])
        guild = world.guilds.get(guild_id)
        if guild is None:
            return
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        wanted = {int(u) for u in data.get("user_ids") or []}
        members: list[JSON] = []
        for uid, member in guild.members.items():
            user = world.users[uid]
            if wanted and uid not in wanted:
                continue
            names = [user.username, user.global_name or "", member.nick or ""]
            if query and not any(n.lower().startswith(query) for n in names):
                continue
            members.append(world.member_payload(guild_id, uid))
        if limit:
            members = members[:limit]
        # Like Discord: at most MEMBERS_PER_CHUNK members a chunk, always at least one chunk.
        parts = [
            members[start : start + MEMBERS_PER_CHUNK]
            for start in range(0, len(members), MEMBERS_PER_CHUNK)
        ] or [[]]
        for index, part in enumerate(parts):
            chunk: dict[str, Any] = {
                "guild_id": str(guild_id),
                "members": part,
                "chunk_index": index,
                "chunk_count": len(parts),
            }
            if index == len(parts) - 1:
                chunk["not_found"] = [str(u) for u in wanted if u not in guild.members]
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            if data.get("presences"):
                chunk["presences"] = []
            session.push("GUILD_MEMBERS_CHUNK", json.dumps(chunk))
        self.member_requests.append((guild_id, len(members)))
        world.changed()
