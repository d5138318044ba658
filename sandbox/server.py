"""SandboxServer: a local Discord-compatible server plus the driver API tests use to act as people.

REST lives under ``/api/v10``; the gateway websocket is at ``/`` on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.web_request import FileField

from sandbox import perms as P
from sandbox.gateway import Gateway, shard_of
from sandbox.interactions import (
    OPTION_ATTACHMENT,
    OPTION_CHANNEL,
    OPTION_MENTIONABLE,
    OPTION_ROLE,
    OPTION_USER,
    InteractionError,
    InteractionRecord,
    check_choices,
    coerce_value,
    find_command,
    nest_options,
    split_path,
)
from sandbox.rest import Ctx, Handler, RestApi, Upload
from sandbox.world import (
    DM,
    FORUM,
    JSON,
    MEDIA,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    Channel,
    Guild,
    Member,
    Role,
    User,
    World,
    WorldError,
    iso,
    iter_components,
    number_components,
    public_message,
)

API_PREFIX = "/api/v10"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
DEFAULT_RETRY_AFTER = 0.05
RECHECK_INTERVAL = 0.005

_ERROR_MESSAGES = {
    0: "General error",
    10003: "Unknown Channel",
    10008: "Unknown Message",
    10062: "Unknown interaction",
    20028: "The write action you are performing on the channel has hit the write rate limit.",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50035: "Invalid Form Body",
    160006: "Maximum number of active threads reached",
}

_SELECT_TYPES = {3, 5, 6, 7, 8}
#: the parsed body of the request being handled (set by the middleware, read by the routes)
_BODY: contextvars.ContextVar[tuple[Any, list[Upload]]] = contextvars.ContextVar("sandbox_body")
_EXEMPT_FROM_GLOBAL = re.compile(r"^/(interactions|webhooks)/")


class SandboxError(Exception):
    """A driver call that a real person could not do (no such button, no permission…)."""


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int | None
    retry_after: float | None
    global_: bool
    remaining: int
    message: str | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and self.pattern.search(path) is not None


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with content type exactly ``application/json`` (discord.py checks it verbatim)."""
    response = web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
    response.headers["Content-Type"] = "application/json"
    return response


class SandboxServer:
    """Local Discord: start it, point discord.py at ``api_base``/``gateway_url``, drive it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        first_id: int | None = None,
        shards: int = 1,
        max_concurrency: int = 1,
        identify_interval: float | None = None,
    ) -> None:
        """``first_id`` makes every id predictable (first_id, first_id + 1, …): for the demo.

        ``shards`` is what ``GET /gateway/bot`` recommends and, above 1, what IDENTIFY must use
        (else 4011); ``max_concurrency`` and ``identify_interval`` (Discord: 5 s) pace sharded
        IDENTIFYs."""
        self.host = host
        self.port = port
        self.world = World(first_id=first_id)
        self.world.changed = self._notify
        self._change = asyncio.Event()
        self.gateway = Gateway(self.world, lambda: self.gateway_url)
        self.world.dispatch = self.gateway.dispatch
        self.shards = shards
        self.max_concurrency = max_concurrency
        if identify_interval is not None:
            self.gateway.identify_interval = identify_interval
        self.rest = RestApi(
            self.world, lambda: self.base_url, lambda: self.gateway_url, self.gateway.bot_info
        )
        self.requests: list[tuple[str, str, Any]] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._rate_per_second: float | None = None
        #: the global rate limit's token bucket per bot token: (requests left, refilled at)
        self._buckets: dict[str, tuple[float, float]] = {}
        #: while a global limit is set: when each request it counts arrived (monotonic), and
        #: how many it answered with a global 429
        self.counted_at: list[float] = []
        self.global_429s = 0
        self._allowed_everyone: set[tuple[int, str]] = set()
        #: When set, only ``Authorization: Bot <token>`` with this token is accepted (else 401).
        self.required_token: str | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.api_base = ""
        self.gateway_url = ""

    # ------------------------------------------------------------------ lifecycle
    @property
    def bot_user_id(self) -> int:
        return self.world.bot_user_id

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def owner_user_id(self) -> int:
        """The application's owner (not a member of any guild unless added)."""
        return self.world.owner_user_id

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        for method, pattern, handler in self.rest.routes():
            app.router.add_route(method, API_PREFIX + pattern, self._wrap(handler))
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._unknown)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_get("/", self.gateway.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        self.base_url = f"http://{self.host}:{self.port}"
        self.api_base = self.base_url + API_PREFIX
        self.gateway_url = f"ws://{self.host}:{self.port}/"

    async def stop(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ waiting
    def _notify(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` is true or raise ``TimeoutError``.

        Re-checked on every sandbox state change, and every few milliseconds as well, because
        predicates often look at the bot's cache, which changes when the client has processed
        a gateway event (something the sandbox cannot observe)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"sandbox condition not met within {timeout}s")
            event = self._change
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, RECHECK_INTERVAL))

    async def wait_until_ready(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """A client has identified and been sent READY and every GUILD_CREATE."""
        await self.wait_for(self.gateway.is_ready, timeout)

    async def disconnect_gateway(self) -> None:
        """Close every gateway connection with a resumable code (4000); clients RESUME."""
        await self.gateway.disconnect_all(4000)
        self._notify()

    async def invalidate_sessions(self) -> None:
        """Drop every session, then disconnect: a client's RESUME gets op 9 (invalid session),
        it IDENTIFYs again and receives a second READY (``on_ready`` fires again)."""
        for session in self.gateway.sessions.values():
            session.alive = False
        await self.gateway.disconnect_all(4000)
        self._notify()

    def expire_interaction(self, record: InteractionRecord) -> None:
        """The 15-minute token is over: followups and edits answer 401 Invalid Webhook Token."""
        record.expired = True

    @property
    def privileged_intents_enabled(self) -> bool:
        return self.gateway.privileged_intents_enabled

    @privileged_intents_enabled.setter
    def privileged_intents_enabled(self, value: bool) -> None:
        """False: IDENTIFY with members/presences/message_content is closed with 4014."""
        self.gateway.privileged_intents_enabled = value

    @property
    def shards(self) -> int:
        return self.gateway.shard_count

    @shards.setter
    def shards(self, count: int) -> None:
        """The shard count ``GET /gateway/bot`` recommends; above 1, an IDENTIFY with another
        count is closed with 4011 (sharding required). Applies to the next IDENTIFY."""
        if count < 1:
            raise ValueError(f"a shard count is at least 1, not {count}")
        self.gateway.shard_count = count

    @property
    def max_concurrency(self) -> int:
        return self.gateway.max_concurrency

    @max_concurrency.setter
    def max_concurrency(self, value: int) -> None:
        """Shards whose ``id % max_concurrency`` differ may IDENTIFY together."""
        if value < 1:
            raise ValueError(f"max_concurrency is at least 1, not {value}")
        self.gateway.max_concurrency = value

    def shard_of(self, guild_id: int | None) -> int:
        """The shard (of ``shards``) that receives this guild's events; DMs: 0."""
        return shard_of(guild_id, self.shards)

    async def wait_until_shards_ready(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Every shard of ``shards`` has a session that was sent READY and its guilds."""
        wanted = set(range(self.shards))
        await self.wait_for(lambda: wanted <= self.gateway.ready_shards(), timeout)

    @property
    def events(self) -> list[tuple[str, JSON]]:
        """Every gateway event dispatched so far (name, data)."""
        return self.gateway.events

    # ------------------------------------------------------------------ HTTP plumbing
    def _wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            body, files = _BODY.get((None, []))
            ctx = Ctx(request, body, files)
            result = await handler(ctx)
            if result is None:
                return web.Response(status=204)
            return json_response(result)

        return route

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        self.unknown_routes.append((request.method, request.path[len(API_PREFIX) :]))
        return json_response({"message": "404: Not Found", "code": 0}, status=404)

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        data = self.world.attachments.get(int(request.match_info["attachment_id"]))
        if data is None:
            return json_response({"message": "404: Not Found", "code": 0}, status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _read_body(self, request: web.Request) -> tuple[Any, list[Upload]]:
        if not request.can_read_body:
            return None, []
        if request.content_type == "multipart/form-data":
            form = await request.post()
            body: Any = None
            files: list[Upload] = []
            for key, value in form.items():
                if isinstance(value, FileField):
                    files.append(Upload(key, value.filename, value.file.read(), value.content_type))
                elif key == "payload_json":
                    body = json.loads(value if isinstance(value, str) else bytes(value))
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode(errors="replace"), []

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        path = request.path[len(API_PREFIX) :]
        body, files = await self._read_body(request)
        self.requests.append((request.method, path, body))
        _BODY.set((body, files))
        try:
            if self.required_token is not None and not path.startswith(
                ("/interactions/", "/webhooks/")
            ):
                expected = f"Bot {self.required_token}"
                if request.headers.get("Authorization") != expected:
                    return json_response({"message": "401: Unauthorized", "code": 0}, status=401)
            fault = self._take_fault(request.method, path)
            if fault is not None:
                return fault
            limited = self._global_rate_limit(path, request.headers.get("Authorization", ""))
            if limited is not None:
                return limited
            return await handler(request)
        except WorldError as exc:
            return json_response(exc.body(), status=exc.status)
        finally:
            self._notify()

    # ------------------------------------------------------------------ faults
    def inject_fault(
        self,
        method: str,
        route_regex: str,
        status: int,
        *,
        code: int | None = None,
        retry_after: float | None = None,
        global_: bool = False,
        count: int = 1,
        message: str | None = None,
    ) -> None:
        """The next ``count`` requests matching (method or "*", regex searched in the path after
        ``/api/v10``) are answered with ``status``. 429s carry ``retry_after`` and the headers
        discord.py needs to retry; a global 429 never hits interaction callbacks/webhooks."""
        self._faults.append(
            Fault(
                method.upper(),
                re.compile(route_regex),
                status,
                code,
                retry_after,
                global_,
                count,
                message,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method: str, path: str) -> web.Response | None:
        for fault in self._faults:
            if fault.remaining <= 0 or not fault.matches(method, path):
                continue
            if fault.status == 429 and fault.global_ and _EXEMPT_FROM_GLOBAL.match(path):
                continue
            fault.remaining -= 1
            if fault.status == 429:
                return self._too_many(
                    fault.retry_after if fault.retry_after is not None else DEFAULT_RETRY_AFTER,
                    global_=fault.global_,
                    code=fault.code,
                )
            code = fault.code or 0
            message = fault.message or (
                f"{fault.status}: Internal Server Error"
                if fault.status >= 500 and not fault.code
                else _ERROR_MESSAGES.get(code, "General error")
            )
            return json_response({"message": message, "code": code}, status=fault.status)
        self._faults = [f for f in self._faults if f.remaining > 0]
        return None

    def _too_many(
        self, retry_after: float, *, global_: bool, code: int | None = None
    ) -> web.Response:
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": "global" if global_ else "user",
            "Via": "1.1 google",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": global_,
            "code": code or 0,
        }
        return json_response(body, status=429, headers=headers)

    def set_global_rate_limit(self, per_second: float | None) -> None:
        """Enforce a global request rate per bot token, counted across every client and shard
        using it (a token bucket holding one second's worth of requests, answering 429
        ``global`` when empty); interaction endpoints are exempt. None: off."""
        self._rate_per_second = per_second
        self._buckets.clear()

    def _global_rate_limit(self, path: str, token: str) -> web.Response | None:
        rate = self._rate_per_second
        if rate is None or _EXEMPT_FROM_GLOBAL.match(path):
            return None
        now = time.monotonic()
        self.counted_at.append(now)
        tokens, at = self._buckets.get(token, (rate, now))
        tokens = min(rate, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[token] = (tokens - 1.0, now)
            return None
        self._buckets[token] = (tokens, now)
        self.global_429s += 1
        return self._too_many((1.0 - tokens) / rate, global_=True)

    # ------------------------------------------------------------------ world building
    def create_user(self, name: str, *, bot: bool = False, global_name: str | None = None) -> int:
        return self.world.add_user(name, bot=bot, global_name=global_name)

    def create_guild(
        self, name: str, *, owner_id: int, bot_permissions: int = 0, shard: int | None = None
    ) -> int:
        """A guild with @everyone (id == guild id), the bot's managed role, and #general.

        The owner and the bot are members. The bot's managed role holds ``bot_permissions``
        (default none, as if invited without permissions: the bot then has @everyone's only;
        change it with ``set_bot_permissions`` or give the bot roles). After a client is
        connected, it gets a GUILD_CREATE. ``shard``: pick an id that falls on this shard of
        ``shards``."""
        w = self.world
        w.user(owner_id)
        if shard is not None and not 0 <= shard < self.shards:
            raise SandboxError(f"shard {shard} is not one of the sandbox's {self.shards}")
        gid = w.ids.next() if shard is None else w.ids.next_on_shard(shard, self.shards)
        guild = Guild(id=gid, name=name, owner_id=owner_id)
        guild.roles[gid] = Role(
            id=gid, guild_id=gid, name="@everyone", permissions=P.DEFAULT_EVERYONE
        )
        bot_role = Role(
            id=w.ids.next(),
            guild_id=gid,
            name=w.user(w.bot_user_id).username,
            permissions=bot_permissions,
            position=1,
            managed=True,
            bot_id=w.bot_user_id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        guild.members[owner_id] = Member(owner_id)
        guild.members[w.bot_user_id] = Member(w.bot_user_id, roles=[bot_role.id])
        w.guilds[gid] = guild
        general = Channel(id=w.ids.next(), type=TEXT, name="general", guild_id=gid)
        w.channels[general.id] = general
        guild.channels.append(general.id)
        guild.system_channel_id = general.id
        w.dispatch("GUILD_CREATE", w.guild_create_payload(gid))
        w.changed()
        return gid

    def bot_role_id(self, guild_id: int) -> int:
        """The id of the bot's managed role in this guild (created with the guild)."""
        role_id = self.world.guild(guild_id).bot_role_id
        assert role_id is not None
        return role_id

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        """Set the permissions of the bot's managed role in this guild."""
        guild = self.world.guild(guild_id)
        assert guild.bot_role_id is not None
        role = guild.roles[guild.bot_role_id]
        role.permissions = permissions
        self.world.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": role.payload()}
        )
        self.world.changed()

    def create_role(
        self,
        guild_id: int,
        name: str,
        *,
        permissions: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
        color: int = 0,
    ) -> int:
        """A role created by an admin: it goes to the bottom of the list (below the bot's)."""
        role = self.rest.add_role(
            guild_id,
            name,
            permissions=permissions,
            hoist=hoist,
            mentionable=mentionable,
            color=color,
        )
        return role.id

    def edit_role(
        self,
        guild_id: int,
        role_id: int,
        *,
        permissions: int | None = None,
        name: str | None = None,
    ) -> None:
        role = self.world.role(guild_id, role_id)
        if permissions is not None:
            role.permissions = permissions
        if name is not None:
            role.name = name
        self.world.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": role.payload()}
        )
        self.world.changed()

    def create_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = TEXT,
        parent_id: int | None = None,
        overwrites: list[dict[str, Any]] | None = None,
        topic: str | None = None,
        tags: list[str | dict[str, Any]] | None = None,
    ) -> int:
        """A channel created by an admin. ``overwrites``: [{"id", "type" (0 role/1 member),
        "allow", "deny"}]; ``tags`` (forums): names or tag dicts."""
        available = [t if isinstance(t, dict) else {"name": t} for t in tags or []]
        ch = self.rest.add_channel(
            guild_id,
            name,
            ctype=type,
            parent_id=parent_id,
            overwrites=overwrites,
            topic=topic,
            available_tags=available,
        )
        return ch.id

    def set_overwrites(self, channel_id: int, overwrites: list[dict[str, Any]]) -> None:
        ch = self.world.channel(channel_id)
        ch.overwrites = self.rest._normalize_overwrites(overwrites)
        self.world.dispatch("CHANNEL_UPDATE", self.world.channel_payload(channel_id))
        self.world.changed()

    def create_thread(
        self,
        channel_id: int,
        name: str,
        *,
        owner_id: int,
        private: bool = False,
        members: list[int] | None = None,
    ) -> int:
        """A thread a person starts (no starter message)."""
        parent = self.world.channel(channel_id)
        thread = self.rest.add_thread(
            parent, name, PRIVATE_THREAD if private else PUBLIC_THREAD, owner_id
        )
        for uid in members or []:
            self.rest.thread_add(thread, uid)
        return thread.id

    def create_forum_post(
        self,
        forum_id: int,
        author_id: int,
        title: str,
        content: str,
        *,
        tags: list[str] | None = None,
    ) -> int:
        """A forum post by a person: a thread whose starter message id equals the thread id."""
        forum = self.world.channel(forum_id)
        if forum.type not in (FORUM, MEDIA):
            raise SandboxError(f"channel {forum_id} is not a forum")
        tag_ids = [int(t["id"]) for t in forum.available_tags if t["name"] in (tags or [])]
        thread_id = self.world.ids.next()
        thread = self.rest.add_thread(
            forum, title, PUBLIC_THREAD, author_id, thread_id=thread_id, applied_tags=tag_ids
        )
        msg = self.world.build_message(
            thread.id, author_id, {"content": content}, message_id=thread_id
        )
        self.world.store_message(msg)
        forum.last_message_id = thread_id
        return thread.id

    def archive_thread(self, thread_id: int, *, locked: bool = False) -> None:
        """Archive a thread (as auto-archive or a moderator would). The client drops it."""
        ch = self.world.channel(thread_id)
        ch.archived = True
        ch.locked = locked
        ch.archive_timestamp = iso()
        self.world.dispatch("THREAD_UPDATE", self.world.channel_payload(thread_id))
        self.world.changed()

    def add_thread_member(self, thread_id: int, user_id: int) -> None:
        self.rest.thread_add(self.world.channel(thread_id), user_id)

    async def add_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        roles: list[int] | None = None,
        nick: str | None = None,
    ) -> None:
        guild = self.world.guild(guild_id)
        self.world.user(user_id)
        if user_id in guild.members:
            raise SandboxError(f"user {user_id} is already a member of {guild_id}")
        guild.members[user_id] = Member(user_id, roles=list(roles or []), nick=nick)
        data = self.world.member_payload(guild_id, user_id)
        data["guild_id"] = str(guild_id)
        self.world.dispatch("GUILD_MEMBER_ADD", data)
        self.world.changed()

    async def remove_member(self, guild_id: int, user_id: int) -> None:
        guild = self.world.guild(guild_id)
        if guild.members.pop(user_id, None) is None:
            raise SandboxError(f"user {user_id} is not a member of {guild_id}")
        for thread in self.world.guild_threads(guild_id, active_only=False):
            thread.thread_members.pop(user_id, None)
        self.world.dispatch(
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild_id), "user": self.world.user(user_id).payload()},
        )
        self.world.changed()

    async def kick_bot(self, guild_id: int) -> None:
        """An admin removes the bot: it gets GUILD_DELETE without ``unavailable``."""
        self.world.dispatch("GUILD_DELETE", {"id": str(guild_id)})
        self.world.changed()

    async def readd_bot(self, guild_id: int) -> None:
        """The bot is invited back: a fresh GUILD_CREATE."""
        self.world.dispatch("GUILD_CREATE", self.world.guild_create_payload(guild_id))
        self.world.changed()

    async def add_member_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        member = self.world.member(guild_id, user_id)
        self.world.role(guild_id, role_id)
        if role_id not in member.roles:
            member.roles.append(role_id)
            self.rest.member_update(guild_id, user_id)

    async def remove_member_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        member = self.world.member(guild_id, user_id)
        if role_id in member.roles:
            member.roles.remove(role_id)
            self.rest.member_update(guild_id, user_id)

    async def set_nick(self, guild_id: int, user_id: int, nick: str | None) -> None:
        self.world.member(guild_id, user_id).nick = nick
        self.rest.member_update(guild_id, user_id)

    def close_dms(self, user_id: int) -> None:
        """The user blocks DMs from server members: the bot gets 403 50007."""
        self.world.closed_dms.add(user_id)

    def open_dms(self, user_id: int) -> None:
        self.world.closed_dms.discard(user_id)

    def allow_command_for_everyone(self, guild_id: int, command: str) -> None:
        """Simulate an admin overriding a command's default permissions in Integrations."""
        self._allowed_everyone.add((guild_id, command.split()[0]))

    # ------------------------------------------------------------------ acting as people
    def _can(self, channel_id: int, user_id: int, needed: int) -> bool:
        return P.has(self.world.channel_permissions(channel_id, user_id), needed)

    async def send_message(
        self,
        channel_id: int,
        author_id: int,
        content: str,
        *,
        reply_to: int | None = None,
        embeds: list[dict[str, Any]] | None = None,
        files: list[tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """A person posts a message (MESSAGE_CREATE). Returns the message payload."""
        ch = self.world.channel(channel_id)
        if ch.type == DM:
            if author_id not in ch.recipients:
                raise SandboxError(f"user {author_id} is not in DM channel {channel_id}")
        else:
            needed = P.SEND_MESSAGES_IN_THREADS if ch.is_thread else P.SEND_MESSAGES
            if not self._can(channel_id, author_id, P.VIEW_CHANNEL | needed):
                raise SandboxError(f"user {author_id} cannot send messages in channel {channel_id}")
            if ch.is_thread and ch.archived:
                if ch.locked:
                    raise SandboxError(f"thread {channel_id} is locked")
                self.rest.unarchive(ch)
        body: JSON = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to), "channel_id": str(channel_id)}
        uploads = [
            Upload(f"files[{i}]", name, data, "application/octet-stream")
            for i, (name, data) in enumerate(files or [])
        ]
        attachments = self.rest.make_attachments(channel_id, body, uploads)
        msg = self.world.build_message(channel_id, author_id, body, attachments=attachments)
        self.world.store_message(msg)
        return public_message(msg)

    async def edit_message(self, channel_id: int, message_id: int, content: str) -> dict[str, Any]:
        msg = self.world.message(channel_id, message_id)
        msg["content"] = content
        self.world.update_message(msg)
        return public_message(msg)

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        self.world.delete_message(channel_id, message_id)

    async def add_reaction(
        self, channel_id: int, message_id: int, user_id: int, emoji: str
    ) -> None:
        self.world.reaction(channel_id, message_id, user_id, emoji, add=True)

    async def remove_reaction(
        self, channel_id: int, message_id: int, user_id: int, emoji: str
    ) -> None:
        self.world.reaction(channel_id, message_id, user_id, emoji, add=False)

    # ------------------------------------------------------------------ bulk (benchmarks)
    def populate_members(
        self, guild_id: int, names: Iterable[str], *, roles: list[int] | None = None
    ) -> list[int]:
        """People who joined before any client connected: no GUILD_MEMBER_ADD is dispatched
        (a client learns of them from GUILD_CREATE or, in a large guild, by requesting chunks).
        Builds a 5,000-member guild in a fraction of a second."""
        guild = self.world.guild(guild_id)
        added: list[int] = []
        for name in names:
            user = User(self.world.ids.next(), name)
            self.world.users[user.id] = user
            guild.members[user.id] = Member(user.id, roles=list(roles or []))
            added.append(user.id)
        self.world.changed()
        return added

    def register_command(self, name: str, description: str, *, guild_id: int | None = None) -> None:
        """A slash command registered earlier (as ``cohortbot sync`` does), so a client that does
        not sync on start can still be sent it."""
        scope = self.rest.commands.setdefault(guild_id, [])
        scope[:] = [c for c in scope if c["name"] != name]
        scope.append(
            self.rest._echo_command(guild_id, {"name": name, "description": description, "type": 1})
        )

    def prepare_message(
        self, channel_id: int, author_id: int, content: str, *, reply_to: int | None = None
    ) -> tuple[int, str]:
        """Store a person's message like ``send_message`` but dispatch nothing; returns its id and
        the MESSAGE_CREATE data as JSON text for ``stream_messages``. Serialising up front lets
        a benchmark stream tens of thousands of events faster than a client reads them."""
        ch = self.world.channel(channel_id)
        needed = P.SEND_MESSAGES_IN_THREADS if ch.is_thread else P.SEND_MESSAGES
        if ch.type == DM or not self._can(channel_id, author_id, P.VIEW_CHANNEL | needed):
            raise SandboxError(f"user {author_id} cannot send messages in channel {channel_id}")
        body: JSON = {"content": content, "embeds": []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to), "channel_id": str(channel_id)}
        msg = self.world.build_message(channel_id, author_id, body)
        self.world.store_message(msg, announce=False)
        return int(msg["id"]), json.dumps(public_message(msg))

    def stream_messages(self, frames: Iterable[str]) -> int:
        """Dispatch prepared MESSAGE_CREATE events, in order, to every live session (they are
        not recorded in ``events``). Returns how many were queued."""
        count = self.gateway.dispatch_serialized("MESSAGE_CREATE", frames)
        self._notify()
        return count

    def gateway_backlog(self) -> int:
        """Frames queued for connected clients and not yet written to their sockets."""
        return self.gateway.backlog()

    # ------------------------------------------------------------------ interactions
    def _command(self, guild_id: int | None, name: str, ctype: int) -> JSON:
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            found = find_command(self.rest.commands.get(scope, []), name, ctype)
            if found is not None:
                return found
        known = [c["name"] for s in scopes for c in self.rest.commands.get(s, [])]
        raise InteractionError(
            f"command {name!r} (type {ctype}) is not registered for guild {guild_id} "
            f"(did the bot sync its tree?); registered: {known}"
        )

    def _check_command_access(self, guild_id: int | None, user_id: int, cmd: JSON) -> None:
        if guild_id is None:
            contexts = cmd.get("contexts")
            if (
                cmd.get("guild_id")
                or cmd.get("dm_permission") is False
                or (contexts is not None and 1 not in contexts)
            ):
                raise InteractionError(f"/{cmd['name']} cannot be used in DMs")
            return
        required = cmd.get("default_member_permissions")
        if required is None or (guild_id, cmd["name"]) in self._allowed_everyone:
            return
        base = self.world.base_permissions(guild_id, user_id)
        bits = int(required)
        if not (base & P.ADMINISTRATOR or (bits and P.has(base, bits))):
            raise InteractionError(
                f"user {user_id} cannot see /{cmd['name']}: it needs permissions {bits} by default "
                "(call allow_command_for_everyone to simulate an admin override)"
            )

    def _resolve_into(
        self,
        resolved: dict[str, dict[str, Any]],
        otype: int,
        value: str,
        guild_id: int | None,
        user_id: int,
        definition: JSON | None = None,
    ) -> None:
        w = self.world
        oid = int(value)
        if otype == OPTION_MENTIONABLE:
            otype = (
                OPTION_ROLE
                if guild_id is not None and oid in w.guild(guild_id).roles
                else OPTION_USER
            )
        if otype == OPTION_USER:
            resolved.setdefault("users", {})[value] = w.user(oid).payload()
            if guild_id is not None and oid in w.guild(guild_id).members:
                member = w.member_payload(guild_id, oid, with_user=False)
                resolved.setdefault("members", {})[value] = member
        elif otype == OPTION_ROLE:
            if guild_id is None:
                raise InteractionError("role options need a guild")
            resolved.setdefault("roles", {})[value] = w.role(guild_id, oid).payload()
        elif otype == OPTION_CHANNEL:
            ch = w.channel(oid)
            if guild_id is not None and ch.guild_id != guild_id:
                raise InteractionError(f"channel {oid} is not in guild {guild_id}")
            allowed = (definition or {}).get("channel_types")
            if allowed and ch.type not in allowed:
                raise InteractionError(f"channel {oid} (type {ch.type}) not allowed: {allowed}")
            resolved.setdefault("channels", {})[value] = w.channel_payload(oid, for_user=user_id)

    def _interaction(
        self,
        itype: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        data: JSON,
        *,
        message: JSON | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        w = self.world
        ch = w.channel(channel_id)
        w.user(user_id)
        if guild_id is not None:
            if ch.guild_id != guild_id:
                raise InteractionError(f"channel {channel_id} is not in guild {guild_id}")
            if user_id not in w.guild(guild_id).members:
                raise InteractionError(f"user {user_id} is not a member of guild {guild_id}")
            if not self._can(channel_id, user_id, P.VIEW_CHANNEL):
                raise InteractionError(f"user {user_id} cannot see channel {channel_id}")
            if itype in (2, 4) and not self._can(channel_id, user_id, P.USE_APPLICATION_COMMANDS):
                raise InteractionError(f"user {user_id} cannot use application commands here")
        elif ch.type != DM or user_id not in ch.recipients:
            raise InteractionError(f"channel {channel_id} is not {user_id}'s DM with the bot")
        iid = w.ids.next()
        token = "itok" + secrets.token_urlsafe(32)
        payload: JSON = {
            "id": str(iid),
            "application_id": str(w.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "app_permissions": str(w.channel_permissions(channel_id, w.bot_user_id)),
            "channel_id": str(channel_id),
            "channel": w.channel_payload(channel_id, for_user=user_id),
        }
        if guild_id is not None:
            member = w.member_payload(guild_id, user_id)
            member["permissions"] = str(w.channel_permissions(channel_id, user_id))
            payload.update(
                {
                    "guild_id": str(guild_id),
                    "guild": {"id": str(guild_id), "locale": "en-US", "features": ["COMMUNITY"]},
                    "guild_locale": "en-US",
                    "member": member,
                    "authorizing_integration_owners": {"0": str(guild_id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": w.user(user_id).payload(),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = public_message(message)
        rec = InteractionRecord(
            id=iid,
            token=token,
            type=itype,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            payload=copy.deepcopy(payload),
            _wait=self.wait_for,
            message_id=int(message["id"]) if message is not None else None,
        )
        self.rest.interactions[iid] = rec
        self.rest.tokens[token] = rec
        rec.dispatched_at = time.monotonic()
        w.dispatch("INTERACTION_CREATE", payload)
        w.changed()
        return rec

    def _command_data(
        self,
        guild_id: int | None,
        user_id: int,
        command: str,
        options: dict[str, object] | None,
        *,
        focused: str | None = None,
    ) -> JSON:
        parts = command.strip().lstrip("/").split()
        if not parts:
            raise InteractionError("empty command")
        cmd = self._command(guild_id, parts[0], 1)
        self._check_command_access(guild_id, user_id, cmd)
        walked, definitions = split_path(cmd, parts[1:])
        given = dict(options or {})
        if focused is not None:
            given.setdefault(focused, "")
        names = {d["name"] for d in definitions}
        unknown = set(given) - names
        if unknown:
            raise InteractionError(
                f"/{command} has no option(s) {sorted(unknown)}; has {sorted(names)}"
            )
        leaf: list[JSON] = []
        resolved: dict[str, dict[str, Any]] = {}
        for definition in definitions:
            name = definition["name"]
            if name not in given:
                if definition.get("required") and focused is None:
                    raise InteractionError(f"/{command} needs option {name!r}")
                continue
            otype = int(definition["type"])
            if name == focused:
                leaf.append(
                    {"name": name, "type": otype, "value": str(given[name]), "focused": True}
                )
                continue
            if otype == OPTION_ATTACHMENT:
                upload = given[name]
                if not isinstance(upload, tuple) or len(upload) != 2:
                    raise InteractionError(f"option {name!r} takes a (filename, bytes) tuple")
                filename, content = str(upload[0]), bytes(upload[1])
                att_id = self.world.ids.next()
                self.world.attachments[att_id] = content
                url = f"{self.base_url}/attachments/0/{att_id}/{filename}"
                resolved.setdefault("attachments", {})[str(att_id)] = {
                    "id": str(att_id),
                    "filename": filename,
                    "size": len(content),
                    "url": url,
                    "proxy_url": url,
                    "content_type": "application/octet-stream",
                    "ephemeral": True,
                }
                leaf.append({"name": name, "type": otype, "value": str(att_id)})
                continue
            value = coerce_value(definition, given[name])
            if not definition.get("autocomplete"):
                check_choices(definition, value)
            if otype in (OPTION_USER, OPTION_ROLE, OPTION_CHANNEL, OPTION_MENTIONABLE):
                self._resolve_into(resolved, otype, value, guild_id, user_id, definition)
            leaf.append({"name": name, "type": otype, "value": value})
        data: JSON = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": 1,
            "options": nest_options(walked, cmd, leaf),
        }
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return data

    async def invoke_slash(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        command: str,
        options: dict[str, object] | None = None,
        *,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A person runs ``/command`` ("course setup", "course text edit", "help").

        Options by name; user/role/channel options by id (resolved like Discord);
        ``guild_id=None`` runs it in the user's DM with the bot (``channel_id`` = that DM)."""
        data = self._command_data(guild_id, user_id, command, options)
        return self._interaction(2, guild_id, channel_id, user_id, data, locale=locale)

    async def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        command: str,
        options: dict[str, object] | None,
        focused: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """A person types into option ``focused``; returns the bot's choices."""
        data = self._command_data(guild_id, user_id, command, options, focused=focused)
        rec = self._interaction(4, guild_id, channel_id, user_id, data)
        await rec.wait_response(timeout)
        return list(rec.choices or [])

    async def invoke_user_command(
        self, guild_id: int | None, channel_id: int, user_id: int, name: str, target_id: int
    ) -> InteractionRecord:
        cmd = self._command(guild_id, name, 2)
        self._check_command_access(guild_id, user_id, cmd)
        resolved: dict[str, dict[str, Any]] = {}
        self._resolve_into(resolved, OPTION_USER, str(target_id), guild_id, user_id)
        data: JSON = {
            "id": cmd["id"],
            "name": name,
            "type": 2,
            "target_id": str(target_id),
            "resolved": resolved,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._interaction(2, guild_id, channel_id, user_id, data)

    async def invoke_message_command(
        self, guild_id: int | None, channel_id: int, user_id: int, name: str, message_id: int
    ) -> InteractionRecord:
        cmd = self._command(guild_id, name, 3)
        self._check_command_access(guild_id, user_id, cmd)
        msg = self.world.message(channel_id, message_id)
        data: JSON = {
            "id": cmd["id"],
            "name": name,
            "type": 3,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): public_message(msg)}},
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._interaction(2, guild_id, channel_id, user_id, data)

    def _visible_message(self, channel_id: int, message_id: int, user_id: int) -> JSON:
        msg = self.world.messages.get(message_id)
        if msg is None or int(msg["channel_id"]) != channel_id:
            raise SandboxError(f"no message {message_id} in channel {channel_id}")
        owner = self.world.ephemeral_to.get(message_id)
        if owner is not None and owner != user_id:
            raise SandboxError(f"message {message_id} is ephemeral and only visible to {owner}")
        return msg

    def _component(self, msg: JSON, custom_id: str, types: set[int]) -> JSON:
        comps = iter_components(msg.get("components") or [])
        for comp in comps:
            if comp.get("custom_id") == custom_id and comp.get("type") in types:
                if comp.get("disabled"):
                    raise SandboxError(f"component {custom_id!r} is disabled")
                return comp
        have = [c.get("custom_id") for c in comps if c.get("custom_id")]
        raise SandboxError(f"no component {custom_id!r} on message {msg['id']}; has {have}")

    def _guild_of(self, channel_id: int) -> int | None:
        return self.world.channel(channel_id).guild_id

    async def click_button(
        self, channel_id: int, message_id: int, user_id: int, custom_id: str
    ) -> InteractionRecord:
        """A person clicks a button (also on an ephemeral response they can see)."""
        msg = self._visible_message(channel_id, message_id, user_id)
        comp = self._component(msg, custom_id, {2})
        data = {"custom_id": custom_id, "component_type": 2, "id": comp.get("id")}
        return self._interaction(
            3, self._guild_of(channel_id), channel_id, user_id, data, message=msg
        )

    async def select(
        self, channel_id: int, message_id: int, user_id: int, custom_id: str, values: list[str]
    ) -> InteractionRecord:
        """A person picks ``values`` in a select menu (string values, or ids for entity selects)."""
        msg = self._visible_message(channel_id, message_id, user_id)
        comp = self._component(msg, custom_id, _SELECT_TYPES)
        lo, hi = int(comp.get("min_values", 1)), int(comp.get("max_values", 1))
        if not lo <= len(values) <= hi:
            raise SandboxError(f"select {custom_id!r} takes {lo}..{hi} values, got {len(values)}")
        ctype = int(comp["type"])
        data: JSON = {
            "custom_id": custom_id,
            "component_type": ctype,
            "values": [str(v) for v in values],
            "id": comp.get("id"),
        }
        guild_id = self._guild_of(channel_id)
        if ctype == 3:
            options = {o.get("value") for o in comp.get("options") or []}
            bad = [v for v in values if v not in options]
            if bad:
                raise SandboxError(f"select {custom_id!r} has no option(s) {bad}")
        else:
            resolved: dict[str, dict[str, Any]] = {}
            otype = {5: OPTION_USER, 6: OPTION_ROLE, 7: OPTION_MENTIONABLE, 8: OPTION_CHANNEL}[
                ctype
            ]
            for value in values:
                self._resolve_into(resolved, otype, str(value), guild_id, user_id)
            data["resolved"] = resolved
        return self._interaction(3, guild_id, channel_id, user_id, data, message=msg)

    async def submit_modal(
        self, opened_by: InteractionRecord, user_id: int, values: dict[str, Any]
    ) -> InteractionRecord:
        """Submit the modal the bot opened for ``opened_by``; ``values`` by text-input custom_id
        (a list of strings for a select inside a label)."""
        modal = opened_by.modal
        if modal is None:
            raise SandboxError("the bot did not open a modal for this interaction")
        if user_id != opened_by.user_id:
            raise SandboxError("only the user the modal was shown to can submit it")
        used: set[str] = set()

        def submitted(item: JSON) -> JSON:
            ctype = int(item["type"])
            custom_id = str(item.get("custom_id", ""))
            out: JSON = {"type": ctype, "id": item.get("id"), "custom_id": custom_id}
            if ctype == 4:
                value = values.get(custom_id, item.get("value") or "")
                used.add(custom_id)
                text = str(value)
                if item.get("required", True) and not text:
                    raise SandboxError(f"text input {custom_id!r} is required")
                if text and len(text) < int(item.get("min_length") or 0):
                    raise SandboxError(f"text input {custom_id!r} is shorter than min_length")
                if len(text) > int(item.get("max_length") or 4000):
                    raise SandboxError(f"text input {custom_id!r} is longer than max_length")
                out["value"] = text
            elif ctype in _SELECT_TYPES:
                chosen = values.get(custom_id, [])
                used.add(custom_id)
                out["values"] = [str(v) for v in chosen]
            return out

        components: list[JSON] = []
        for comp in modal.get("components") or []:
            ctype = int(comp.get("type", 0))
            if ctype == 1:
                components.append(
                    {
                        "type": 1,
                        "id": comp.get("id"),
                        "components": [submitted(c) for c in comp.get("components") or []],
                    }
                )
            elif ctype == 18:
                components.append(
                    {"type": 18, "id": comp.get("id"), "component": submitted(comp["component"])}
                )
            elif ctype == 10:
                components.append({"type": 10, "id": comp.get("id")})
        unknown = set(values) - used
        if unknown:
            raise SandboxError(
                f"modal {modal.get('custom_id')!r} has no input(s) {sorted(unknown)}"
            )
        data = {"custom_id": modal["custom_id"], "components": components}
        message = None
        if opened_by.message_id is not None:
            message = self.world.messages.get(opened_by.message_id)
        return self._interaction(
            5, opened_by.guild_id, opened_by.channel_id, user_id, data, message=message
        )

    def interaction(self, interaction_id: int) -> InteractionRecord:
        return self.rest.interactions[interaction_id]

    # ------------------------------------------------------------------ observation
    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages in a channel/thread/DM, oldest first (ephemeral ones excluded)."""
        return [
            public_message(self.world.messages[m])
            for m in self.world.channel_messages.get(channel_id, [])
        ]

    def message(self, message_id: int) -> dict[str, Any] | None:
        msg = self.world.messages.get(message_id)
        return public_message(msg) if msg is not None else None

    def ephemeral_messages(self, user_id: int) -> list[dict[str, Any]]:
        return [
            public_message(self.world.messages[m])
            for m, owner in self.world.ephemeral_to.items()
            if owner == user_id and m in self.world.messages
        ]

    def dm_channel_of(self, user_id: int) -> int:
        """The id of the DM channel between the bot and ``user_id`` (created if needed)."""
        return self.rest.dm_channel(user_id).id

    def has_dm_channel(self, user_id: int) -> bool:
        return user_id in self.world.dm_channels

    def dm_messages(self, user_id: int) -> list[dict[str, Any]]:
        channel_id = self.world.dm_channels.get(user_id)
        return self.messages(channel_id) if channel_id is not None else []

    def channel(self, channel_id: int) -> dict[str, Any] | None:
        ch = self.world.channels.get(channel_id)
        if ch is None or ch.deleted:
            return None
        return self.world.channel_payload(channel_id)

    def channels_in(self, guild_id: int) -> list[dict[str, Any]]:
        return [self.world.channel_payload(c.id) for c in self.world.guild_channels(guild_id)]

    def threads_in(self, guild_id: int, *, include_archived: bool = True) -> list[dict[str, Any]]:
        return [
            self.world.channel_payload(t.id)
            for t in self.world.guild_threads(guild_id, active_only=not include_archived)
        ]

    def thread_members(self, thread_id: int) -> list[int]:
        return list(self.world.channel(thread_id).thread_members)

    def roles_in(self, guild_id: int) -> list[dict[str, Any]]:
        return [r.payload() for r in self.world.guild(guild_id).roles.values()]

    def find_channel(self, guild_id: int, name: str) -> int | None:
        """The id of the channel or thread called ``name`` (None if there is none)."""
        for ch in self.world.guild_channels(guild_id) + self.world.guild_threads(
            guild_id, active_only=False
        ):
            if ch.name == name:
                return ch.id
        return None

    def find_role(self, guild_id: int, name: str) -> int | None:
        """The id of the role called ``name`` (None if there is none)."""
        for role in self.world.guild(guild_id).roles.values():
            if role.name == name:
                return role.id
        return None

    def member(self, guild_id: int, user_id: int) -> dict[str, Any] | None:
        if user_id not in self.world.guild(guild_id).members:
            return None
        return self.world.member_payload(guild_id, user_id)

    def member_role_ids(self, guild_id: int, user_id: int) -> list[int]:
        return list(self.world.member(guild_id, user_id).roles)

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return list(self.rest.commands.get(guild_id, []))

    def attachment_bytes(self, attachment_id: int) -> bytes:
        return self.world.attachments[attachment_id]

    def channel_permissions(self, channel_id: int, user_id: int) -> int:
        return self.world.channel_permissions(channel_id, user_id)


__all__ = [
    "InteractionRecord",
    "SandboxError",
    "SandboxServer",
    "json_response",
    "number_components",
]
