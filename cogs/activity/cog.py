"""Records course activity: messages, reactions, commands and button uses in tracked places.

What counts is :func:`counts_as_participation`, the digest's one definition.

Tracked places are the configured introductions, discussion and coffee-shop channels and
their threads. This is the hottest path in the bot (every message in every course server), so
it runs as inline listeners (``CohortBot.add_inline_listener``): no task and no await per
event, only cached look-ups; rows are batched by ``ActivityRecorder``. The events of a guild
whose settings are not cached yet wait for one load of them (``AfterLoad``), then count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, Literal

import discord

from bot.client import CohortBot
from bot.command_kit import FeatureCog
from bot.store.activity import ActivityKind
from bot.store.guilds import GuildConfig
from bot.ui import was_refused

log = logging.getLogger(__name__)

#: How an interaction ended: carried out, or refused (a failed check such as staff-only, a bad
#: value, any error — everything that answers through ``bot.ui.report_error``).
Outcome = Literal["completed", "refused"]


def counts_as_participation(kind: ActivityKind, outcome: Outcome = "completed") -> bool:
    """What the digest means by participation (its activity counts, "active", "no activity"
    and drifting): a message or reaction in a tracked place, and a slash command, button
    press or form the bot carried out. A refused one counts as nothing, so trying
    ``/digest now`` or a staff button as a student does not make anyone look active."""
    return kind in ("message", "reaction") or outcome == "completed"


#: A button press or form is decided once answered and this old (seconds): by then a handler
#: that refuses has said so through ``report_error``.
SETTLE_AFTER = 2.0
#: ``interaction.extras`` key: when (by the bot's clock) the interaction arrived.
ARRIVED_AT = "cohortbot_arrived_at"
#: A press still unanswered after this long was handled by nothing (Discord gives 3 s).
UNANSWERED_AFTER = 60.0


def tracked_channel_ids(config: GuildConfig) -> set[int]:
    return {
        cid
        for cid in (
            config.intro_channel_id,
            config.discussion_channel_id,
            config.coffee_channel_id,
        )
        if cid is not None
    }


def is_tracked(channel: Any, tracked: set[int] | frozenset[int]) -> bool:
    if channel is None:
        return False
    if channel.id in tracked:
        return True
    parent_id = getattr(channel, "parent_id", None)
    return isinstance(channel, discord.Thread) and parent_id in tracked


class ActivityCog(FeatureCog):
    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        # Per guild: the config object the set was computed from, and the tracked channel ids.
        self._tracked: dict[int, tuple[GuildConfig, frozenset[int]]] = {}
        # Button presses and forms waiting to be known as carried out or refused.
        self._unsettled: list[tuple[float, discord.Interaction[Any]]] = []
        self._message_filters = (self.on_message,)
        self._inline = (
            ("raw_reaction_add", self.on_raw_reaction_add),
            ("interaction", self.on_interaction),
            ("app_command_completion", self.on_app_command_completion),
        )

    async def cog_load(self) -> None:
        await super().cog_load()
        self.app.activity_recorder.before_flush.append(self._settle)

    async def cog_unload(self) -> None:
        await super().cog_unload()
        if self._settle in self.app.activity_recorder.before_flush:
            self.app.activity_recorder.before_flush.remove(self._settle)

    def _tracked_places(self, guild_id: int, retry: Callable[[], None]) -> frozenset[int] | None:
        """The guild's tracked channel ids, None if not configured. When its settings are not
        cached, park ``retry`` until they have loaded, and return None."""
        known, config = self.bot.config_or_park(guild_id, retry)
        if not known or config is None:
            return None
        return self._tracked_of(guild_id, config)

    def _tracked_of(self, guild_id: int, config: GuildConfig) -> frozenset[int]:
        cached = self._tracked.get(guild_id)
        if cached is None or cached[0] is not config:
            cached = (config, frozenset(tracked_channel_ids(config)))
            self._tracked[guild_id] = cached
        return cached[1]

    def _record(
        self,
        guild_id: int,
        user_id: int,
        kind: ActivityKind,
        channel_id: int | None,
        at: datetime | None = None,
    ) -> None:
        self.app.activity_recorder.count(
            guild_id, user_id, kind, channel_id, at or self.app.clock.now()
        )

    def on_message(self, message: discord.Message, config: GuildConfig | None) -> None:
        # A message filter (CohortBot.add_message_filter): a person's, in a server, cached.
        if config is None:
            return
        channel = message.channel
        if is_tracked(channel, self._tracked_of(config.guild_id, config)):
            self._record(config.guild_id, message.author.id, "message", channel.id)

    def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or payload.user_id == getattr(self.bot.user, "id", None):
            return
        if payload.member is not None and payload.member.bot:
            return
        tracked = self._tracked_places(payload.guild_id, partial(self.on_raw_reaction_add, payload))
        if tracked is None:
            return
        guild = self.bot.get_guild(payload.guild_id)
        channel = guild.get_channel_or_thread(payload.channel_id) if guild else None
        if not is_tracked(channel, tracked):
            return
        self._record(payload.guild_id, payload.user_id, "reaction", payload.channel_id)

    def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # Slash commands are counted when they complete (below), not when they arrive; button
        # presses and forms once their handler had time to answer (``_settle``), because
        # discord.py tells nobody when a view's callback has finished. Either way the activity
        # is dated when the student acted, not when the bot finished.
        interaction.extras[ARRIVED_AT] = self.app.clock.now()
        if interaction.type in (
            discord.InteractionType.component,
            discord.InteractionType.modal_submit,
        ):
            self._unsettled.append((asyncio.get_running_loop().time(), interaction))

    def _settle(self, final: bool) -> None:
        """Record the button presses and forms that were carried out, drop the refused ones,
        and keep those still running (unless ``final``: a shutdown or an explicit flush)."""
        if not self._unsettled:
            return
        now = asyncio.get_running_loop().time()
        waiting: list[tuple[float, discord.Interaction[Any]]] = []
        for seen_at, interaction in self._unsettled:
            age = now - seen_at
            if was_refused(interaction):
                continue
            if not interaction.response.is_done():
                # Not answered (yet): still running, or a press nobody handles (a stale or
                # forged custom_id), which carried nothing out.
                if not final and age < UNANSWERED_AFTER:
                    waiting.append((seen_at, interaction))
                continue
            if not final and age < SETTLE_AFTER:
                waiting.append((seen_at, interaction))
                continue
            if counts_as_participation("button", "completed"):
                self._record_interaction(interaction, "button")
        self._unsettled = waiting

    def on_app_command_completion(
        self, interaction: discord.Interaction[Any], command: object
    ) -> None:
        # discord.py dispatches this only when the checks passed and the callback returned;
        # a command that caught its own error and answered through report_error is refused too.
        refused = interaction.command_failed or was_refused(interaction)
        if counts_as_participation("command", "refused" if refused else "completed"):
            self._record_interaction(interaction, "command")

    def _record_interaction(
        self, interaction: discord.Interaction[Any], kind: ActivityKind
    ) -> None:
        if interaction.guild_id is None or interaction.user.bot:
            return
        guild_id = interaction.guild_id
        retry = partial(self._record_interaction, interaction, kind)
        if self._tracked_places(guild_id, retry) is None:
            return
        arrived = interaction.extras.get(ARRIVED_AT)
        self._record(
            guild_id,
            interaction.user.id,
            kind,
            interaction.channel_id,
            arrived if isinstance(arrived, datetime) else None,
        )


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(ActivityCog(bot))
