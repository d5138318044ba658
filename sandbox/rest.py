"""The sandbox's REST API under ``/api/v10`` — every write is made by the bot and checked."""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox import limits
from sandbox import perms as P
from sandbox.interactions import InteractionRecord
from sandbox.world import (
    CATEGORY,
    DM,
    EPHEMERAL,
    FORUM,
    HAS_THREAD,
    JSON,
    LOADING,
    MEDIA,
    NEWS,
    NEWS_THREAD,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    THREAD_TYPES,
    Channel,
    Role,
    World,
    WorldError,
    invalid_form,
    iso,
    missing_access,
    missing_permissions,
    number_components,
    public_message,
)

MAX_ACTIVE_THREADS = 1000
MAX_CHANNELS = 500
MAX_ROLES = 250


@dataclass
class Upload:
    field: str
    filename: str
    data: bytes
    content_type: str


@dataclass
class Ctx:
    request: web.Request
    body: Any
    files: list[Upload] = field(default_factory=list)

    def id(self, name: str) -> int:
        raw = self.request.match_info[name]
        try:
            return int(raw)
        except ValueError:
            raise WorldError(404, 0, "404: Not Found") from None

    def arg(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def json(self) -> JSON:
        return self.body if isinstance(self.body, dict) else {}

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)


Handler = Callable[[Ctx], Awaitable[Any]]


def fetched_message(msg: JSON) -> JSON:
    """A message as GET returns it: Discord does not store the nonce, so only the create
    response and the MESSAGE_CREATE event carry it, never history or a fetch."""
    out = public_message(msg)
    out.pop("nonce", None)
    return out


def form_error(path: list[str | int], code: str, message: str) -> WorldError:
    errors: JSON = {}
    limits.add_error(errors, path, code, message)
    return invalid_form(errors)


class RestApi:
    def __init__(
        self,
        world: World,
        base_url: Callable[[], str],
        gateway_url: Callable[[], str],
        gateway_bot: Callable[[], JSON],
    ) -> None:
        """``gateway_bot`` gives the body of ``GET /gateway/bot`` (the gateway owns the shard
        count and the session start limit)."""
        self.world = world
        self._base_url = base_url
        self._gateway_url = gateway_url
        self._gateway_bot = gateway_bot
        #: registered application commands: scope (guild id or None for global) -> list
        self.commands: dict[int | None, list[JSON]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.tokens: dict[str, InteractionRecord] = {}

    @property
    def bot(self) -> int:
        return self.world.bot_user_id

    # ------------------------------------------------------------------ routing table
    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/users/@me", self.get_me),
            ("PATCH", "/users/@me", self.get_me),
            ("POST", "/users/@me/channels", self.open_dm),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            # application commands
            ("GET", "/applications/{app}/commands", self.get_commands),
            ("PUT", "/applications/{app}/commands", self.put_commands),
            ("POST", "/applications/{app}/commands", self.post_command),
            ("GET", "/applications/{app}/commands/{cmd}", self.get_command),
            ("PATCH", "/applications/{app}/commands/{cmd}", self.patch_command),
            ("DELETE", "/applications/{app}/commands/{cmd}", self.delete_command),
            ("GET", "/applications/{app}/guilds/{guild_id}/commands/permissions", self.empty_list),
            ("GET", "/applications/{app}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{app}/guilds/{guild_id}/commands", self.put_commands),
            ("POST", "/applications/{app}/guilds/{guild_id}/commands", self.post_command),
            ("GET", "/applications/{app}/guilds/{guild_id}/commands/{cmd}", self.get_command),
            ("PATCH", "/applications/{app}/guilds/{guild_id}/commands/{cmd}", self.patch_command),
            ("DELETE", "/applications/{app}/guilds/{guild_id}/commands/{cmd}", self.delete_command),
            # guilds
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.get_guild_channels),
            ("POST", "/guilds/{guild_id}/channels", self.create_channel),
            ("PATCH", "/guilds/{guild_id}/channels", self.no_content),
            ("GET", "/guilds/{guild_id}/roles", self.get_roles),
            ("POST", "/guilds/{guild_id}/roles", self.create_role),
            ("PATCH", "/guilds/{guild_id}/roles/{role_id}", self.edit_role),
            ("DELETE", "/guilds/{guild_id}/roles/{role_id}", self.delete_role),
            ("GET", "/guilds/{guild_id}/members", self.list_members),
            ("GET", "/guilds/{guild_id}/members/search", self.search_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
            ("PATCH", "/guilds/{guild_id}/members/{user_id}", self.edit_member),
            ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_member_role),
            (
                "DELETE",
                "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
                self.remove_member_role,
            ),
            ("GET", "/guilds/{guild_id}/threads/active", self.active_threads),
            # channels
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("PATCH", "/channels/{channel_id}", self.edit_channel),
            ("DELETE", "/channels/{channel_id}", self.delete_channel),
            ("PUT", "/channels/{channel_id}/permissions/{target}", self.put_overwrite),
            ("DELETE", "/channels/{channel_id}/permissions/{target}", self.delete_overwrite),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/channels/{channel_id}/messages", self.history),
            ("POST", "/channels/{channel_id}/messages", self.post_message),
            ("GET", "/channels/{channel_id}/messages/pins", self.get_pins),
            ("PUT", "/channels/{channel_id}/messages/pins/{message_id}", self.pin),
            ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", self.unpin),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user}",
                self.add_reaction,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user}",
                self.remove_reaction,
            ),
            (
                "GET",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
                self.get_reactions,
            ),
            (
                "POST",
                "/channels/{channel_id}/messages/{message_id}/threads",
                self.thread_from_message,
            ),
            ("POST", "/channels/{channel_id}/threads", self.create_thread),
            ("GET", "/channels/{channel_id}/threads/archived/public", self.archived_public),
            ("GET", "/channels/{channel_id}/threads/archived/private", self.archived_private),
            ("GET", "/channels/{channel_id}/thread-members", self.list_thread_members),
            ("GET", "/channels/{channel_id}/thread-members/{user}", self.get_thread_member),
            ("PUT", "/channels/{channel_id}/thread-members/{user}", self.add_thread_member),
            ("DELETE", "/channels/{channel_id}/thread-members/{user}", self.remove_thread_member),
            # interactions
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.interaction_callback),
            ("POST", "/webhooks/{app}/{token}", self.followup),
            ("GET", "/webhooks/{app}/{token}/messages/{message_id}", self.get_webhook_message),
            ("PATCH", "/webhooks/{app}/{token}/messages/{message_id}", self.edit_webhook_message),
            (
                "DELETE",
                "/webhooks/{app}/{token}/messages/{message_id}",
                self.delete_webhook_message,
            ),
        ]

    async def empty_list(self, ctx: Ctx) -> Any:
        return []

    async def no_content(self, ctx: Ctx) -> Any:
        return None

    # ------------------------------------------------------------------ users & app
    async def get_me(self, ctx: Ctx) -> Any:
        data = self.world.user(self.bot).payload()
        data.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        return data

    async def get_user(self, ctx: Ctx) -> Any:
        return self.world.user(ctx.id("user_id")).payload()

    async def get_application(self, ctx: Ctx) -> Any:
        w = self.world
        return {
            "id": str(w.application_id),
            "name": w.user(self.bot).username,
            "icon": None,
            "description": "",
            "summary": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": w.user(w.owner_user_id).payload(),
            "verify_key": "0" * 64,
            "team": None,
            "flags": 0,
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "install_params": None,
            "integration_types_config": {},
            "custom_install_url": None,
            "redirect_uris": [],
            "approximate_guild_count": len(w.guilds),
            "bot": w.user(self.bot).payload(),
        }

    async def get_gateway(self, ctx: Ctx) -> Any:
        return {"url": self._gateway_url()}

    async def get_gateway_bot(self, ctx: Ctx) -> Any:
        return self._gateway_bot()

    def dm_channel(self, user_id: int) -> Channel:
        w = self.world
        w.user(user_id)
        existing = w.dm_channels.get(user_id)
        if existing is not None:
            return w.channels[existing]
        ch = Channel(id=w.ids.next(), type=DM, recipients=[user_id, self.bot])
        w.channels[ch.id] = ch
        w.dm_channels[user_id] = ch.id
        w.changed()
        return ch

    async def open_dm(self, ctx: Ctx) -> Any:
        ch = self.dm_channel(int(ctx.json.get("recipient_id", 0)))
        return self.world.channel_payload(ch.id)

    # ------------------------------------------------------------------ commands
    def _scope(self, ctx: Ctx) -> int | None:
        if ctx.id("app") != self.world.application_id:
            raise WorldError(403, 50001, "Missing Access")
        if "guild_id" in ctx.request.match_info:
            guild_id = ctx.id("guild_id")
            self.world.guild(guild_id)
            return guild_id
        return None

    def _echo_command(self, scope: int | None, raw: JSON) -> JSON:
        ctype = int(raw.get("type", 1) or 1)
        key = (scope, ctype, str(raw["name"]))
        cid = self._command_ids.setdefault(key, self.world.ids.next())
        cmd = copy.deepcopy(raw)
        perms = cmd.get("default_member_permissions")
        cmd.update(
            {
                "id": str(cid),
                "application_id": str(self.world.application_id),
                "type": ctype,
                "description": raw.get("description") or "",
                "version": str(self.world.ids.next()),
                "default_member_permissions": None if perms is None else str(perms),
                "nsfw": bool(raw.get("nsfw", False)),
            }
        )
        if scope is not None:
            cmd["guild_id"] = str(scope)
        else:
            cmd.setdefault("dm_permission", True)
        cmd.setdefault("options", [])
        return cmd

    async def get_commands(self, ctx: Ctx) -> Any:
        return self.commands.get(self._scope(ctx), [])

    async def put_commands(self, ctx: Ctx) -> Any:
        scope = self._scope(ctx)
        body = ctx.body if isinstance(ctx.body, list) else []
        errors = limits.check_commands(body)
        if errors:
            raise invalid_form(errors)
        self.commands[scope] = [self._echo_command(scope, c) for c in body]
        self.world.changed()
        return self.commands[scope]

    async def post_command(self, ctx: Ctx) -> Any:
        scope = self._scope(ctx)
        errors = limits.check_commands([ctx.json])
        if errors:
            raise invalid_form(errors)
        cmd = self._echo_command(scope, ctx.json)
        existing = [c for c in self.commands.get(scope, []) if c["id"] != cmd["id"]]
        self.commands[scope] = [*existing, cmd]
        self.world.changed()
        return cmd

    def _find_command(self, ctx: Ctx) -> tuple[int | None, JSON]:
        scope = self._scope(ctx)
        cid = ctx.arg("cmd")
        for cmd in self.commands.get(scope, []):
            if cmd["id"] == cid:
                return scope, cmd
        raise WorldError(404, 10063, "Unknown application command")

    async def get_command(self, ctx: Ctx) -> Any:
        return self._find_command(ctx)[1]

    async def patch_command(self, ctx: Ctx) -> Any:
        scope, cmd = self._find_command(ctx)
        merged = {**cmd, **ctx.json}
        new = self._echo_command(scope, merged)
        self.commands[scope] = [new if c["id"] == cmd["id"] else c for c in self.commands[scope]]
        self.world.changed()
        return new

    async def delete_command(self, ctx: Ctx) -> Any:
        scope, cmd = self._find_command(ctx)
        self.commands[scope] = [c for c in self.commands[scope] if c["id"] != cmd["id"]]
        self.world.changed()
        return None

    # ------------------------------------------------------------------ guilds
    def _bot_guild(self, ctx: Ctx) -> int:
        guild_id = ctx.id("guild_id")
        guild = self.world.guild(guild_id)
        if self.bot not in guild.members:
            raise WorldError(404, 10004, "Unknown Guild")
        return guild_id

    def _need_guild_perm(self, guild_id: int, needed: int) -> int:
        perms = self.world.base_permissions(guild_id, self.bot)
        if not P.has(perms, needed):
            raise missing_permissions()
        return perms

    async def get_guild(self, ctx: Ctx) -> Any:
        return self.world.guild_payload(self._bot_guild(ctx))

    async def get_guild_channels(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        return [self.world.channel_payload(c.id) for c in self.world.guild_channels(guild_id)]

    async def get_roles(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        return [r.payload() for r in self.world.guild(guild_id).roles.values()]

    def check_grantable(self, guild_id: int, bits: int, channel_id: int | None = None) -> None:
        """Discord refuses to grant or deny permissions the bot itself does not have."""
        have = (
            self.world.channel_permissions(channel_id, self.bot)
            if channel_id is not None
            else self.world.base_permissions(guild_id, self.bot)
        )
        if have == P.ALL:
            return
        if bits & ~have:
            raise missing_permissions()

    def check_hierarchy(self, guild_id: int, role: Role) -> None:
        guild = self.world.guild(guild_id)
        if guild.owner_id == self.bot:
            return
        if role.position >= self.world.top_role_position(guild_id, self.bot):
            raise missing_permissions()

    async def create_role(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        self._need_guild_perm(guild_id, P.MANAGE_ROLES)
        body = ctx.json
        bits = int(body.get("permissions") or 0)
        self.check_grantable(guild_id, bits)
        if len(self.world.guild(guild_id).roles) >= MAX_ROLES:
            raise WorldError(400, 30005, "Maximum number of guild roles reached (250)")
        role = self.add_role(
            guild_id,
            str(body.get("name") or "new role"),
            permissions=bits,
            hoist=bool(body.get("hoist", False)),
            mentionable=bool(body.get("mentionable", False)),
            color=int(body.get("color") or 0),
        )
        return role.payload()

    def add_role(
        self,
        guild_id: int,
        name: str,
        *,
        permissions: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
        color: int = 0,
        managed: bool = False,
        bot_id: int | None = None,
    ) -> Role:
        w = self.world
        guild = w.guild(guild_id)
        bumped = [r for r in guild.roles.values() if r.id != guild_id]
        position = w.next_role_position(guild_id)
        role = Role(
            id=w.ids.next(),
            guild_id=guild_id,
            name=name,
            permissions=permissions,
            position=position,
            hoist=hoist,
            mentionable=mentionable,
            color=color,
            managed=managed,
            bot_id=bot_id,
        )
        guild.roles[role.id] = role
        w.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role.payload()})
        for other in bumped:
            w.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": other.payload()})
        w.changed()
        return role

    async def edit_role(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        self._need_guild_perm(guild_id, P.MANAGE_ROLES)
        role = self.world.role(guild_id, ctx.id("role_id"))
        self.check_hierarchy(guild_id, role)
        body = ctx.json
        if "permissions" in body and body["permissions"] is not None:
            bits = int(body["permissions"])
            self.check_grantable(guild_id, bits & ~role.permissions)
            role.permissions = bits
        for key in ("name", "hoist", "mentionable", "color"):
            if key in body and body[key] is not None:
                setattr(role, key, body[key])
        self.world.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": role.payload()}
        )
        self.world.changed()
        return role.payload()

    async def delete_role(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        self._need_guild_perm(guild_id, P.MANAGE_ROLES)
        role = self.world.role(guild_id, ctx.id("role_id"))
        if role.id == guild_id or role.managed:
            raise WorldError(400, 50028, "Invalid Role")
        self.check_hierarchy(guild_id, role)
        guild = self.world.guild(guild_id)
        del guild.roles[role.id]
        for member in guild.members.values():
            if role.id in member.roles:
                member.roles.remove(role.id)
        self.world.dispatch(
            "GUILD_ROLE_DELETE", {"guild_id": str(guild_id), "role_id": str(role.id)}
        )
        self.world.changed()
        return None

    async def list_members(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        limit = int(ctx.query("limit") or 1)
        after = int(ctx.query("after") or 0)
        ids = sorted(u for u in self.world.guild(guild_id).members if u > after)[:limit]
        return [self.world.member_payload(guild_id, u) for u in ids]

    async def search_members(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        query = (ctx.query("query") or "").lower()
        limit = int(ctx.query("limit") or 1)
        out = []
        for uid, member in self.world.guild(guild_id).members.items():
            user = self.world.users[uid]
            names = [user.username, user.global_name or "", member.nick or ""]
            if any(n.lower().startswith(query) for n in names):
                out.append(self.world.member_payload(guild_id, uid))
        return out[:limit]

    async def get_member(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        return self.world.member_payload(guild_id, ctx.id("user_id"))

    def member_update(self, guild_id: int, user_id: int) -> None:
        data = self.world.member_payload(guild_id, user_id)
        data["guild_id"] = str(guild_id)
        self.world.dispatch("GUILD_MEMBER_UPDATE", data)
        self.world.changed()

    def _check_assignable(self, guild_id: int, role_id: int) -> Role:
        self._need_guild_perm(guild_id, P.MANAGE_ROLES)
        role = self.world.role(guild_id, role_id)
        if role.managed or role.id == guild_id:
            raise missing_permissions()
        self.check_hierarchy(guild_id, role)
        return role

    async def edit_member(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        user_id = ctx.id("user_id") if ctx.arg("user_id") != "@me" else self.bot
        member = self.world.member(guild_id, user_id)
        body = ctx.json
        if "nick" in body:
            needed = P.CHANGE_NICKNAME if user_id == self.bot else P.MANAGE_NICKNAMES
            self._need_guild_perm(guild_id, needed)
            member.nick = body["nick"] or None
        if "roles" in body and body["roles"] is not None:
            wanted = [int(r) for r in body["roles"]]
            for rid in set(wanted) ^ set(member.roles):
                role = self.world.role(guild_id, rid)
                if not (role.managed and rid in member.roles):
                    self._check_assignable(guild_id, rid)
            member.roles = [r for r in wanted if r != guild_id]
        self.member_update(guild_id, user_id)
        return self.world.member_payload(guild_id, user_id)

    async def add_member_role(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        member = self.world.member(guild_id, ctx.id("user_id"))
        role = self._check_assignable(guild_id, ctx.id("role_id"))
        if role.id not in member.roles:
            member.roles.append(role.id)
            self.member_update(guild_id, member.user_id)
        return None

    async def remove_member_role(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        member = self.world.member(guild_id, ctx.id("user_id"))
        role = self._check_assignable(guild_id, ctx.id("role_id"))
        if role.id in member.roles:
            member.roles.remove(role.id)
            self.member_update(guild_id, member.user_id)
        return None

    async def active_threads(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        threads = [
            t
            for t in self.world.guild_threads(guild_id)
            if self.world.channel_permissions(t.id, self.bot) & P.VIEW_CHANNEL
        ]
        return {
            "threads": [self.world.channel_payload(t.id) for t in threads],
            "members": [
                self.world.thread_member_payload(t, self.bot)
                for t in threads
                if self.bot in t.thread_members
            ],
        }

    # ------------------------------------------------------------------ channels
    def visible_channel(self, channel_id: int) -> Channel:
        ch = self.world.channel(channel_id)
        if ch.type == DM:
            if self.bot not in ch.recipients:
                raise missing_access()
            return ch
        assert ch.guild_id is not None
        if self.bot not in self.world.guild(ch.guild_id).members:
            raise missing_access()
        if not self.world.channel_permissions(ch.id, self.bot) & P.VIEW_CHANNEL:
            raise missing_access()
        return ch

    def _need_channel_perm(self, channel_id: int, needed: int) -> int:
        perms = self.world.channel_permissions(channel_id, self.bot)
        if not P.has(perms, needed):
            raise missing_permissions()
        return perms

    def _normalize_overwrites(self, raw: Any) -> list[JSON]:
        out: list[JSON] = []
        for ow in raw or []:
            out.append(
                {
                    "id": int(ow["id"]),
                    "type": int(ow.get("type", 0)),
                    "allow": int(ow.get("allow") or 0),
                    "deny": int(ow.get("deny") or 0),
                }
            )
        return out

    async def create_channel(self, ctx: Ctx) -> Any:
        guild_id = self._bot_guild(ctx)
        body = ctx.json
        parent_id = int(body["parent_id"]) if body.get("parent_id") else None
        if parent_id is not None:
            parent = self.world.channel(parent_id)
            if parent.type != CATEGORY or parent.guild_id != guild_id:
                raise form_error(["parent_id"], "CHANNEL_PARENT_INVALID_TYPE", "Not a category")
            self._need_channel_perm(parent_id, P.MANAGE_CHANNELS)
        else:
            self._need_guild_perm(guild_id, P.MANAGE_CHANNELS)
        overwrites = self._normalize_overwrites(body.get("permission_overwrites"))
        for ow in overwrites:
            self.check_grantable(guild_id, ow["allow"] | ow["deny"], parent_id)
        ctype = int(body.get("type") or 0)
        if ctype not in (TEXT, 2, CATEGORY, NEWS, FORUM, MEDIA, 13):
            raise form_error(
                ["type"], "BASE_TYPE_CHOICES", "Value must be one of {0, 2, 4, 5, 13, 15, 16}."
            )
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise form_error(
                ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        if len(self.world.guild_channels(guild_id)) >= MAX_CHANNELS:
            raise WorldError(400, 30013, "Maximum number of guild channels reached (500)")
        ch = self.add_channel(
            guild_id,
            name,
            ctype=ctype,
            parent_id=parent_id,
            overwrites=overwrites,
            topic=body.get("topic"),
            available_tags=body.get("available_tags"),
        )
        return self.world.channel_payload(ch.id)

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        ctype: int = TEXT,
        parent_id: int | None = None,
        overwrites: list[JSON] | None = None,
        topic: str | None = None,
        available_tags: list[JSON] | None = None,
    ) -> Channel:
        w = self.world
        guild = w.guild(guild_id)
        if ctype == TEXT and " " in name:
            name = name.lower().replace(" ", "-")
        ch = Channel(
            id=w.ids.next(),
            type=ctype,
            name=name,
            guild_id=guild_id,
            position=len(w.guild_channels(guild_id)),
            parent_id=parent_id,
            topic=topic,
            overwrites=self._normalize_overwrites(overwrites),
            available_tags=[self._tag(t) for t in available_tags or []],
        )
        w.channels[ch.id] = ch
        guild.channels.append(ch.id)
        w.dispatch("CHANNEL_CREATE", w.channel_payload(ch.id))
        w.changed()
        return ch

    def _tag(self, raw: JSON) -> JSON:
        return {
            "id": str(raw.get("id") or self.world.ids.next()),
            "name": str(raw.get("name", "")),
            "moderated": bool(raw.get("moderated", False)),
            "emoji_id": str(raw["emoji_id"]) if raw.get("emoji_id") else None,
            "emoji_name": raw.get("emoji_name"),
        }

    async def get_channel(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        return self.world.channel_payload(ch.id)

    async def edit_channel(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        body = ctx.json
        w = self.world
        if ch.type == DM:
            raise WorldError(403, 50003, "Cannot execute action on a DM channel")
        if ch.is_thread:
            return self.edit_thread(ch, body, actor=self.bot)
        self._need_channel_perm(ch.id, P.MANAGE_CHANNELS)
        assert ch.guild_id is not None
        if "permission_overwrites" in body:
            self._need_channel_perm(ch.id, P.MANAGE_ROLES)
            new = self._normalize_overwrites(body["permission_overwrites"])
            for ow in new:
                self.check_grantable(ch.guild_id, ow["allow"] | ow["deny"], ch.id)
            ch.overwrites = new
        if body.get("name"):
            ch.name = str(body["name"])
        if "topic" in body:
            ch.topic = body["topic"]
        if "position" in body and body["position"] is not None:
            ch.position = int(body["position"])
        if "parent_id" in body:
            ch.parent_id = int(body["parent_id"]) if body["parent_id"] else None
        if "available_tags" in body and ch.type in (FORUM, MEDIA):
            ch.available_tags = [self._tag(t) for t in body["available_tags"] or []]
        w.dispatch("CHANNEL_UPDATE", w.channel_payload(ch.id))
        w.changed()
        return w.channel_payload(ch.id)

    def edit_thread(self, ch: Channel, body: JSON, *, actor: int) -> JSON:
        w = self.world
        perms = w.channel_permissions(ch.id, actor)
        moderator = bool(perms & P.MANAGE_THREADS)
        owner = ch.owner_id == actor
        if not (moderator or owner):
            raise missing_permissions()
        if ("locked" in body or "invitable" in body) and not moderator:
            raise missing_permissions()
        if ch.locked and body.get("archived") is False and not moderator:
            raise missing_permissions()
        if "archived" in body and bool(body["archived"]) != ch.archived:
            ch.archived = bool(body["archived"])
            ch.archive_timestamp = iso()
        if "locked" in body:
            ch.locked = bool(body["locked"])
        if "invitable" in body:
            ch.invitable = bool(body["invitable"])
        if body.get("name"):
            ch.name = str(body["name"])
        if body.get("auto_archive_duration"):
            ch.auto_archive_duration = int(body["auto_archive_duration"])
        if "applied_tags" in body:
            ch.applied_tags = self._check_tags(ch.parent_id, body["applied_tags"])
        data = w.channel_payload(ch.id)
        w.dispatch("THREAD_UPDATE", data)
        w.changed()
        return data

    def _check_tags(self, forum_id: int | None, raw: Any) -> list[int]:
        tags = [int(t) for t in raw or []]
        if len(tags) > 5:
            raise form_error(
                ["applied_tags"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
            )
        if forum_id is not None:
            known = {int(t["id"]) for t in self.world.channels[forum_id].available_tags}
            if any(t not in known for t in tags):
                raise form_error(["applied_tags"], "UNKNOWN_TAG", "Unknown tag")
        return tags

    async def delete_channel(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        w = self.world
        if ch.type == DM:
            return w.channel_payload(ch.id)
        data = w.channel_payload(ch.id)
        if ch.is_thread:
            self._need_channel_perm(ch.id, P.MANAGE_THREADS)
            ch.deleted = True
            w.dispatch(
                "THREAD_DELETE",
                {
                    "id": str(ch.id),
                    "guild_id": str(ch.guild_id),
                    "parent_id": str(ch.parent_id),
                    "type": ch.type,
                },
            )
        else:
            self._need_channel_perm(ch.id, P.MANAGE_CHANNELS)
            ch.deleted = True
            w.dispatch("CHANNEL_DELETE", data)
        w.changed()
        return data

    async def put_overwrite(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        if ch.guild_id is None or ch.is_thread:
            raise WorldError(400, 50024, "Cannot execute action on this channel type")
        self._need_channel_perm(ch.id, P.MANAGE_ROLES)
        body = ctx.json
        target = ctx.id("target")
        new = self._normalize_overwrites([{**body, "id": target}])[0]
        self.check_grantable(ch.guild_id, new["allow"] | new["deny"], ch.id)
        ch.overwrites = [ow for ow in ch.overwrites if int(ow["id"]) != target] + [new]
        self.world.dispatch("CHANNEL_UPDATE", self.world.channel_payload(ch.id))
        self.world.changed()
        return None

    async def delete_overwrite(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        self._need_channel_perm(ch.id, P.MANAGE_ROLES)
        target = ctx.id("target")
        ch.overwrites = [ow for ow in ch.overwrites if int(ow["id"]) != target]
        self.world.dispatch("CHANNEL_UPDATE", self.world.channel_payload(ch.id))
        self.world.changed()
        return None

    async def typing(self, ctx: Ctx) -> Any:
        self.visible_channel(ctx.id("channel_id"))
        return None

    # ------------------------------------------------------------------ messages
    def public_channel_message(self, channel_id: int, message_id: int) -> JSON:
        if message_id in self.world.ephemeral_to:
            raise WorldError(404, 10008, "Unknown Message")
        return self.world.message(channel_id, message_id)

    async def history(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        if not self.world.channel_permissions(ch.id, self.bot) & P.READ_MESSAGE_HISTORY:
            return []
        limit = max(1, min(100, int(ctx.query("limit") or 50)))
        ids = list(self.world.channel_messages.get(ch.id, []))
        before, after, around = ctx.query("before"), ctx.query("after"), ctx.query("around")
        if around is not None:
            pivot = int(around)
            older = [i for i in ids if i <= pivot][-(limit // 2 + limit % 2) :]
            newer = [i for i in ids if i > pivot][: limit // 2]
            picked = older + newer
        elif after is not None:
            pivot = int(after)
            picked = [i for i in ids if i > pivot]
            if before is not None:
                picked = [i for i in picked if i < int(before)]
            picked = picked[:limit]
        elif before is not None:
            picked = [i for i in ids if i < int(before)][-limit:]
        else:
            picked = ids[-limit:]
        return [fetched_message(self.world.messages[i]) for i in reversed(picked)]

    def make_attachments(
        self, channel_id: int, body: JSON, files: list[Upload], existing: list[JSON] | None = None
    ) -> list[JSON]:
        """Attachments for a create/edit: kept ones (by id) plus new uploads (``files[n]``)."""
        uploads = {u.field: u for u in files}
        out: list[JSON] = []
        old = {str(a["id"]): a for a in existing or []}
        specs = body.get("attachments")
        if specs is None:
            specs = [{"id": i} for i in range(len(files))] if files else []
            out.extend(existing or [])
        for spec in specs:
            sid = str(spec.get("id"))
            if sid in old:
                out.append(old[sid])
                continue
            upload = uploads.get(f"files[{sid}]")
            if upload is None:
                continue
            att_id = self.world.ids.next()
            self.world.attachments[att_id] = upload.data
            url = f"{self._base_url()}/attachments/{channel_id}/{att_id}/{upload.filename}"
            out.append(
                {
                    "id": str(att_id),
                    "filename": spec.get("filename") or upload.filename,
                    "description": spec.get("description"),
                    "content_type": upload.content_type,
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url,
                    "ephemeral": False,
                }
            )
        return out

    def validate_new_message(self, body: JSON, files: list[Upload]) -> None:
        errors = limits.check_message(body)
        if errors:
            raise invalid_form(errors)
        if limits.is_empty_message(body, has_files=bool(files)):
            raise WorldError(400, 50006, "Cannot send an empty message")

    def check_can_send(self, ch: Channel, *, files: bool) -> None:
        w = self.world
        if ch.type == DM:
            other = next((u for u in ch.recipients if u != self.bot), None)
            shares_guild = any(
                other in g.members and self.bot in g.members for g in w.guilds.values()
            )
            if other is None or other in w.closed_dms or not shares_guild:
                raise WorldError(403, 50007, "Cannot send messages to this user")
            return
        perms = w.channel_permissions(ch.id, self.bot)
        if not perms & P.VIEW_CHANNEL:
            raise missing_access()
        if ch.type in (CATEGORY, FORUM, MEDIA, 13):
            raise WorldError(400, 50008, "Cannot send messages in a non-text channel")
        send = P.SEND_MESSAGES_IN_THREADS if ch.is_thread else P.SEND_MESSAGES
        if not perms & send:
            raise missing_permissions()
        if files and not perms & P.ATTACH_FILES:
            raise missing_permissions()
        if ch.is_thread and ch.archived:
            if ch.locked and not perms & P.MANAGE_THREADS:
                raise WorldError(400, 50083, "Thread is archived")
            self.unarchive(ch)

    def unarchive(self, ch: Channel) -> None:
        ch.archived = False
        ch.archive_timestamp = iso()
        self.world.dispatch("THREAD_UPDATE", self.world.channel_payload(ch.id))

    async def post_message(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        body = ctx.json
        self.check_can_send(ch, files=bool(ctx.files))
        nonce = body.get("nonce")
        key = (ch.id, str(nonce))
        if nonce is not None and body.get("enforce_nonce") and key in self.world.nonces:
            existing = self.world.messages.get(self.world.nonces[key])
            if existing is not None:
                return public_message(existing)
        self.validate_new_message(body, ctx.files)
        attachments = self.make_attachments(ch.id, body, ctx.files)
        msg = self.world.build_message(ch.id, self.bot, body, attachments=attachments)
        if nonce is not None:
            self.world.nonces[key] = int(msg["id"])
        self.world.store_message(msg)
        return public_message(msg)

    async def get_message(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        if not self.world.channel_permissions(ch.id, self.bot) & P.READ_MESSAGE_HISTORY:
            raise missing_permissions()
        return fetched_message(self.public_channel_message(ch.id, ctx.id("message_id")))

    def apply_edit(self, msg: JSON, body: JSON, files: list[Upload]) -> None:
        """Merge an edit into a stored message, validating the result like Discord."""
        errors = limits.check_message(body)
        if errors:
            raise invalid_form(errors)
        merged = {
            "content": body["content"] if "content" in body else msg.get("content"),
            "embeds": body["embeds"] if "embeds" in body else msg.get("embeds"),
            "components": body["components"] if "components" in body else msg.get("components"),
        }
        attachments = msg.get("attachments") or []
        if "attachments" in body or files:
            attachments = self.make_attachments(int(msg["channel_id"]), body, files, attachments)
        if limits.is_empty_message(merged, has_files=bool(attachments)):
            raise WorldError(400, 50006, "Cannot send an empty message")
        if "content" in body:
            msg["content"] = body["content"] or ""
        if "embeds" in body:
            msg["embeds"] = copy.deepcopy(body["embeds"] or [])
        if "components" in body:
            msg["components"] = number_components(copy.deepcopy(body["components"] or []))
        if "flags" in body and body["flags"] is not None:
            keep = int(msg.get("flags") or 0) & (EPHEMERAL | HAS_THREAD)
            msg["flags"] = keep | (int(body["flags"]) & ~(EPHEMERAL | LOADING))
        msg["flags"] = int(msg.get("flags") or 0) & ~LOADING
        msg["attachments"] = attachments
        if "content" in body or "allowed_mentions" in body:
            allowed = body.get("allowed_mentions", msg.get("_allowed_mentions"))
            ch = self.world.channel(int(msg["channel_id"]))
            reply_to = (msg.get("referenced_message") or {}).get("author", {}).get("id")
            users, roles, everyone = self.world.resolve_mentions(
                ch, msg["content"], allowed, int(reply_to) if reply_to else None
            )
            msg["mentions"] = [self.world.user(u).payload() for u in users]
            msg["mention_roles"] = [str(r) for r in roles]
            msg["mention_everyone"] = everyone
            msg["_allowed_mentions"] = allowed
        self.world.update_message(msg)

    async def edit_message(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        msg = self.public_channel_message(ch.id, ctx.id("message_id"))
        if int(msg["author"]["id"]) != self.bot:
            raise WorldError(403, 50005, "Cannot edit a message authored by another user")
        self.apply_edit(msg, ctx.json, ctx.files)
        return public_message(msg)

    async def delete_message(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        msg = self.public_channel_message(ch.id, ctx.id("message_id"))
        if int(msg["author"]["id"]) != self.bot and ch.type != DM:
            self._need_channel_perm(ch.id, P.MANAGE_MESSAGES)
        elif int(msg["author"]["id"]) != self.bot:
            raise WorldError(403, 50003, "Cannot execute action on a DM channel")
        self.world.delete_message(ch.id, int(msg["id"]))
        return None

    async def get_pins(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        pinned = [
            self.world.messages[i]
            for i in reversed(self.world.channel_messages.get(ch.id, []))
            if self.world.messages[i].get("pinned")
        ]
        return {
            "items": [{"pinned_at": iso(), "message": public_message(m)} for m in pinned],
            "has_more": False,
        }

    async def _set_pin(self, ctx: Ctx, value: bool) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        if ch.type != DM:
            self._need_channel_perm(ch.id, P.MANAGE_MESSAGES)
        msg = self.public_channel_message(ch.id, ctx.id("message_id"))
        msg["pinned"] = value
        self.world.update_message(msg)
        return None

    async def pin(self, ctx: Ctx) -> Any:
        return await self._set_pin(ctx, True)

    async def unpin(self, ctx: Ctx) -> Any:
        return await self._set_pin(ctx, False)

    async def add_reaction(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        msg = self.public_channel_message(ch.id, ctx.id("message_id"))
        if ctx.arg("user") != "@me":
            raise WorldError(404, 0, "404: Not Found")
        emoji = ctx.arg("emoji")
        if ch.type != DM:
            perms = self.world.channel_permissions(ch.id, self.bot)
            if not perms & P.READ_MESSAGE_HISTORY:
                raise missing_permissions()
            existing = msg.get("_reactors", {}).get(emoji)
            if not existing and not perms & P.ADD_REACTIONS:
                raise missing_permissions()
        self.world.reaction(ch.id, int(msg["id"]), self.bot, emoji, add=True)
        return None

    async def remove_reaction(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        msg = self.public_channel_message(ch.id, ctx.id("message_id"))
        user = self.bot if ctx.arg("user") == "@me" else ctx.id("user")
        if user != self.bot:
            self._need_channel_perm(ch.id, P.MANAGE_MESSAGES)
        self.world.reaction(ch.id, int(msg["id"]), user, ctx.arg("emoji"), add=False)
        return None

    async def get_reactions(self, ctx: Ctx) -> Any:
        ch = self.visible_channel(ctx.id("channel_id"))
        msg = self.public_channel_message(ch.id, ctx.id("message_id"))
        users = msg.get("_reactors", {}).get(ctx.arg("emoji"), [])
        return [self.world.user(u).payload() for u in users]

    # ------------------------------------------------------------------ threads
    def _thread_limit(self, guild_id: int) -> None:
        if len(self.world.guild_threads(guild_id)) >= MAX_ACTIVE_THREADS:
            raise WorldError(400, 160006, "Maximum number of active threads reached")

    def add_thread(
        self,
        parent: Channel,
        name: str,
        ttype: int,
        owner_id: int,
        *,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
        invitable: bool = True,
        applied_tags: list[int] | None = None,
    ) -> Channel:
        w = self.world
        assert parent.guild_id is not None
        thread = Channel(
            id=thread_id or w.ids.next(),
            type=ttype,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=owner_id,
            auto_archive_duration=auto_archive_duration,
            invitable=invitable,
            applied_tags=list(applied_tags or []),
        )
        thread.thread_members[owner_id] = iso()
        w.channels[thread.id] = thread
        w.guild(parent.guild_id).channels.append(thread.id)
        data = w.channel_payload(thread.id)
        data["newly_created"] = True
        w.dispatch("THREAD_CREATE", data)
        if owner_id != self.bot:
            w.dispatch("THREAD_MEMBERS_UPDATE", self._members_update(thread, added=[owner_id]))
        w.changed()
        return thread

    def _members_update(
        self, thread: Channel, *, added: list[int] | None = None, removed: list[int] | None = None
    ) -> JSON:
        assert thread.guild_id is not None
        data: JSON = {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "member_count": len(thread.thread_members),
        }
        if added:
            members = []
            for uid in added:
                entry = self.world.thread_member_payload(thread, uid)
                if uid in self.world.guild(thread.guild_id).members:
                    entry["member"] = self.world.member_payload(thread.guild_id, uid)
                entry["presence"] = None
                members.append(entry)
            data["added_members"] = members
        if removed:
            data["removed_member_ids"] = [str(u) for u in removed]
        return data

    async def create_thread(self, ctx: Ctx) -> Any:
        parent = self.visible_channel(ctx.id("channel_id"))
        if parent.guild_id is None or parent.type not in (TEXT, NEWS, FORUM, MEDIA):
            raise WorldError(400, 50024, "Cannot execute action on this channel type")
        body = ctx.json
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise form_error(
                ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        perms = self.world.channel_permissions(parent.id, self.bot)
        self._thread_limit(parent.guild_id)
        archive = int(body.get("auto_archive_duration") or 1440)
        if parent.type in (FORUM, MEDIA):
            if not perms & P.SEND_MESSAGES:
                raise missing_permissions()
            message = body.get("message")
            if not isinstance(message, dict):
                raise form_error(["message"], "BASE_TYPE_REQUIRED", "This field is required")
            self.validate_new_message(message, ctx.files)
            tags = self._check_tags(parent.id, body.get("applied_tags"))
            thread_id = self.world.ids.next()
            thread = self.add_thread(
                parent,
                name,
                PUBLIC_THREAD,
                self.bot,
                thread_id=thread_id,
                auto_archive_duration=archive,
                applied_tags=tags,
            )
            attachments = self.make_attachments(thread.id, message, ctx.files)
            msg = self.world.build_message(
                thread.id, self.bot, message, message_id=thread_id, attachments=attachments
            )
            self.world.store_message(msg)
            parent.last_message_id = thread.id
            data = self.world.channel_payload(thread.id)
            data["message"] = public_message(msg)
            return data
        ttype = int(body.get("type") or PRIVATE_THREAD)
        if ttype not in (PUBLIC_THREAD, PRIVATE_THREAD, NEWS_THREAD):
            raise form_error(["type"], "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")
        needed = P.CREATE_PRIVATE_THREADS if ttype == PRIVATE_THREAD else P.CREATE_PUBLIC_THREADS
        if not perms & needed:
            raise missing_permissions()
        thread = self.add_thread(
            parent,
            name,
            ttype,
            self.bot,
            auto_archive_duration=archive,
            invitable=bool(body.get("invitable", True)),
        )
        return self.world.channel_payload(thread.id)

    async def thread_from_message(self, ctx: Ctx) -> Any:
        parent = self.visible_channel(ctx.id("channel_id"))
        if parent.guild_id is None or parent.type not in (TEXT, NEWS):
            raise WorldError(400, 50024, "Cannot execute action on this channel type")
        msg = self.public_channel_message(parent.id, ctx.id("message_id"))
        if msg.get("thread"):
            raise WorldError(400, 160004, "A thread has already been created for this message")
        if not self.world.channel_permissions(parent.id, self.bot) & P.CREATE_PUBLIC_THREADS:
            raise missing_permissions()
        self._thread_limit(parent.guild_id)
        body = ctx.json
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise form_error(
                ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        thread = self.add_thread(
            parent,
            name,
            NEWS_THREAD if parent.type == NEWS else PUBLIC_THREAD,
            self.bot,
            thread_id=int(msg["id"]),
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        msg["thread"] = self.world.channel_payload(thread.id)
        msg["flags"] = int(msg.get("flags") or 0) | HAS_THREAD
        return self.world.channel_payload(thread.id)

    def _archived(self, ctx: Ctx, private: bool) -> Any:
        parent = self.visible_channel(ctx.id("channel_id"))
        assert parent.guild_id is not None
        threads = [
            t
            for t in self.world.guild_threads(parent.guild_id, active_only=False)
            if t.parent_id == parent.id and t.archived and (t.type == PRIVATE_THREAD) == private
        ]
        threads.sort(key=lambda t: t.archive_timestamp, reverse=True)
        return {
            "threads": [self.world.channel_payload(t.id) for t in threads],
            "members": [
                self.world.thread_member_payload(t, self.bot)
                for t in threads
                if self.bot in t.thread_members
            ],
            "has_more": False,
        }

    async def archived_public(self, ctx: Ctx) -> Any:
        return self._archived(ctx, False)

    async def archived_private(self, ctx: Ctx) -> Any:
        return self._archived(ctx, True)

    def _thread(self, ctx: Ctx) -> Channel:
        ch = self.visible_channel(ctx.id("channel_id"))
        if not ch.is_thread:
            raise WorldError(400, 50024, "Cannot execute action on this channel type")
        return ch

    def _user_arg(self, ctx: Ctx) -> int:
        return self.bot if ctx.arg("user") == "@me" else ctx.id("user")

    async def list_thread_members(self, ctx: Ctx) -> Any:
        ch = self._thread(ctx)
        return [self.world.thread_member_payload(ch, u) for u in ch.thread_members]

    async def get_thread_member(self, ctx: Ctx) -> Any:
        ch = self._thread(ctx)
        user = self._user_arg(ctx)
        if user not in ch.thread_members:
            raise WorldError(404, 10007, "Unknown Member")
        return self.world.thread_member_payload(ch, user)

    def thread_add(self, ch: Channel, user: int) -> None:
        if user in ch.thread_members:
            return
        ch.thread_members[user] = iso()
        self.world.dispatch("THREAD_MEMBERS_UPDATE", self._members_update(ch, added=[user]))
        self.world.changed()

    def thread_remove(self, ch: Channel, user: int) -> None:
        if user not in ch.thread_members:
            return
        del ch.thread_members[user]
        self.world.dispatch("THREAD_MEMBERS_UPDATE", self._members_update(ch, removed=[user]))
        self.world.changed()

    async def add_thread_member(self, ctx: Ctx) -> Any:
        ch = self._thread(ctx)
        user = self._user_arg(ctx)
        assert ch.guild_id is not None
        if ch.archived:
            raise WorldError(400, 50083, "Thread is archived")
        self.world.member(ch.guild_id, user)
        perms = self.world.channel_permissions(ch.id, self.bot)
        if user != self.bot:
            if not perms & P.SEND_MESSAGES_IN_THREADS:
                raise missing_permissions()
            if ch.type == PRIVATE_THREAD and not ch.invitable and not perms & P.MANAGE_THREADS:
                raise missing_permissions()
        if len(ch.thread_members) >= 1000:
            raise WorldError(400, 30033, "Maximum number of thread participants reached (1000)")
        self.thread_add(ch, user)
        return None

    async def remove_thread_member(self, ctx: Ctx) -> Any:
        ch = self._thread(ctx)
        user = self._user_arg(ctx)
        if ch.archived:
            raise WorldError(400, 50083, "Thread is archived")
        if user != self.bot:
            perms = self.world.channel_permissions(ch.id, self.bot)
            if not (
                perms & P.MANAGE_THREADS or (ch.type == PRIVATE_THREAD and ch.owner_id == self.bot)
            ):
                raise missing_permissions()
        self.thread_remove(ch, user)
        return None

    # ------------------------------------------------------------------ interactions
    def _record(self, ctx: Ctx, *, callback: bool) -> InteractionRecord:
        token = ctx.arg("token")
        rec = self.tokens.get(token)
        if callback:
            rec = self.interactions.get(ctx.id("interaction_id"))
            if rec is None or rec.token != token:
                raise WorldError(404, 10062, "Unknown interaction")
            return rec
        if rec is None or ctx.id("app") != self.world.application_id:
            raise WorldError(404, 10015, "Unknown Webhook")
        if rec.expired:
            raise WorldError(401, 50027, "Invalid Webhook Token")
        return rec

    def _interaction_message(
        self, rec: InteractionRecord, body: JSON, files: list[Upload], *, flags: int, msg_type: int
    ) -> JSON:
        attachments = self.make_attachments(rec.channel_id, body, files)
        user = self.world.user(rec.user_id).payload()
        extra: JSON = {
            "webhook_id": str(self.world.application_id),
            "application_id": str(self.world.application_id),
            "interaction_metadata": {
                "id": str(rec.id),
                "type": rec.type,
                "user": user,
                "authorizing_integration_owners": (
                    {"0": str(rec.guild_id)} if rec.guild_id else {"1": str(rec.user_id)}
                ),
            },
            "interaction": {
                "id": str(rec.id),
                "type": rec.type,
                "name": str((rec.payload.get("data") or {}).get("name", "")),
                "user": user,
            },
        }
        if rec.message_id is not None:
            extra["interaction_metadata"]["interacted_message_id"] = str(rec.message_id)
        if rec.original_message_id is not None:
            extra["interaction_metadata"]["original_response_message_id"] = str(
                rec.original_message_id
            )
        msg = self.world.build_message(
            rec.channel_id,
            self.bot,
            {**body, "flags": flags},
            attachments=attachments,
            extra=extra,
        )
        msg["type"] = msg_type
        return msg

    def _response(
        self, kind: str, ctype: int | None, msg: JSON | None, files: list[Upload]
    ) -> JSON:
        flags = int(msg.get("flags") or 0) if msg else 0
        return {
            "kind": kind,
            "type": ctype,
            "content": msg.get("content") if msg else None,
            "embeds": copy.deepcopy(msg.get("embeds") or []) if msg else [],
            "components": copy.deepcopy(msg.get("components") or []) if msg else [],
            "flags": flags,
            "ephemeral": bool(flags & EPHEMERAL),
            "files": [{"filename": f.filename, "data": f.data, "size": len(f.data)} for f in files],
            "message_id": int(msg["id"]) if msg else None,
            "message": public_message(msg) if msg else None,
            # When the sandbox received it (monotonic seconds), to check the 3-second rule.
            "at": time.monotonic(),
        }

    def _store_interaction_message(self, rec: InteractionRecord, msg: JSON) -> None:
        flags = int(msg.get("flags") or 0)
        self.world.store_message(msg, ephemeral_to=rec.user_id if flags & EPHEMERAL else None)

    async def interaction_callback(self, ctx: Ctx) -> Any:
        rec = self._record(ctx, callback=True)
        if rec.acknowledged:
            raise WorldError(400, 40060, "Interaction has already been acknowledged.")
        body = ctx.json
        ctype = int(body.get("type") or 0)
        data: JSON = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(rec.type, set())
        if ctype in (6, 7) and rec.message_id is None:
            allowed = allowed - {6, 7}
        if ctype not in allowed:
            raise form_error(
                ["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type"
            )
        msg: JSON | None = None
        kind = "message"
        loading = False
        if ctype == 4:
            errors = limits.check_message(data)
            if errors:
                raise invalid_form({"data": errors})
            if limits.is_empty_message(data, has_files=bool(ctx.files)):
                raise WorldError(400, 50006, "Cannot send an empty message")
            flags = int(data.get("flags") or 0)
            msg = self._interaction_message(
                rec, data, ctx.files, flags=flags, msg_type=20 if rec.type == 2 else 0
            )
            rec.original_message_id = int(msg["id"])
            self._store_interaction_message(rec, msg)
        elif ctype == 5:
            kind, loading = "deferred", True
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            msg = self._interaction_message(
                rec, {"content": ""}, [], flags=flags, msg_type=20 if rec.type == 2 else 0
            )
            rec.original_message_id = int(msg["id"])
            self._store_interaction_message(rec, msg)
        elif ctype in (6, 7):
            assert rec.message_id is not None
            msg = self.world.messages.get(rec.message_id)
            if msg is None:
                raise WorldError(404, 10008, "Unknown Message")
            rec.original_message_id = rec.message_id
            if ctype == 7:
                kind = "update"
                try:
                    self.apply_edit(msg, data, ctx.files)
                except WorldError as exc:
                    if exc.errors:
                        exc.errors = {"data": exc.errors}
                    raise
            else:
                kind = "deferred"
        elif ctype == 8:
            errors = limits.check_autocomplete(data)
            if errors:
                raise invalid_form(errors)
            kind = "autocomplete"
            rec.choices = list(data.get("choices") or [])
        elif ctype == 9:
            errors = limits.check_modal(data)
            if errors:
                raise invalid_form(errors)
            kind = "modal"
            rec.modal = {
                **copy.deepcopy(data),
                "components": number_components(copy.deepcopy(data.get("components") or [])),
            }
        rec.callback_type = ctype
        response = self._response(kind, ctype, msg, ctx.files)
        if ctype == 8:
            response["choices"] = copy.deepcopy(rec.choices)
        if ctype == 9:
            response["modal"] = copy.deepcopy(rec.modal)
        rec.responses.append(response)
        self.world.changed()
        resource: JSON = {"type": ctype}
        if msg is not None:
            resource["message"] = public_message(msg)
        return {
            "interaction": {
                "id": str(rec.id),
                "type": rec.type,
                "activity_instance_id": None,
                "response_message_id": str(msg["id"]) if msg else None,
                "response_message_loading": loading,
                "response_message_ephemeral": bool(msg and int(msg["flags"]) & EPHEMERAL),
            },
            "resource": resource,
        }

    async def followup(self, ctx: Ctx) -> Any:
        rec = self._record(ctx, callback=False)
        if not rec.acknowledged or rec.type == 4:
            raise WorldError(404, 10015, "Unknown Webhook")
        body = ctx.json
        original = (
            self.world.messages.get(rec.original_message_id) if rec.original_message_id else None
        )
        if (
            rec.callback_type == 5
            and original is not None
            and int(original.get("flags") or 0) & LOADING
        ):
            # The first followup after a "thinking…" defer replaces the placeholder.
            try:
                self.apply_edit(original, {**body, "flags": None}, ctx.files)
            except WorldError:
                raise
            rec.responses.append(self._response("followup", None, original, ctx.files))
            self.world.changed()
            return public_message(original)
        errors = limits.check_message(body)
        if errors:
            raise invalid_form(errors)
        if limits.is_empty_message(body, has_files=bool(ctx.files)):
            raise WorldError(400, 50006, "Cannot send an empty message")
        flags = int(body.get("flags") or 0)
        msg = self._interaction_message(rec, body, ctx.files, flags=flags, msg_type=20)
        rec.followup_ids.append(int(msg["id"]))
        self._store_interaction_message(rec, msg)
        rec.responses.append(self._response("followup", None, msg, ctx.files))
        self.world.changed()
        return public_message(msg)

    def _webhook_message(self, ctx: Ctx) -> tuple[InteractionRecord, JSON, bool]:
        rec = self._record(ctx, callback=False)
        raw = ctx.arg("message_id")
        if raw == "@original":
            mid = rec.original_message_id
            is_original = True
        else:
            mid = ctx.id("message_id")
            is_original = mid == rec.original_message_id
            if not is_original and mid not in rec.followup_ids:
                raise WorldError(404, 10008, "Unknown Message")
        msg = self.world.messages.get(mid) if mid is not None else None
        if msg is None:
            raise WorldError(404, 10008, "Unknown Message")
        return rec, msg, is_original

    async def get_webhook_message(self, ctx: Ctx) -> Any:
        return public_message(self._webhook_message(ctx)[1])

    async def edit_webhook_message(self, ctx: Ctx) -> Any:
        rec, msg, is_original = self._webhook_message(ctx)
        self.apply_edit(msg, ctx.json, ctx.files)
        rec.responses.append(
            self._response(
                "edit_original" if is_original else "edit_followup", None, msg, ctx.files
            )
        )
        self.world.changed()
        return public_message(msg)

    async def delete_webhook_message(self, ctx: Ctx) -> Any:
        rec, msg, _ = self._webhook_message(ctx)
        self.world.delete_message(int(msg["channel_id"]), int(msg["id"]))
        rec.responses.append(
            {
                "kind": "delete",
                "type": None,
                "content": None,
                "embeds": [],
                "components": [],
                "flags": 0,
                "ephemeral": False,
                "files": [],
                "message_id": int(msg["id"]),
                "message": None,
            }
        )
        self.world.changed()
        return None


__all__ = ["THREAD_TYPES", "Ctx", "RestApi", "Upload"]
