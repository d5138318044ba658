"""Discord UI building blocks that share one error path and one reply helper."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import ExpectedError
from bot.store.db import DatabaseBusyError

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger("bot.errors")

UNEXPECTED_ERROR_TEXT = (
    "Sorry — something went wrong on our side and nothing was changed. "
    "Please try again in a moment; if it keeps happening, tell your instructor."
)


BUSY_TEXT = (
    "CohortBot's database is busy right now, so nothing was saved. Please try again in a minute."
)


async def reply(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    embeds: Sequence[discord.Embed] | None = None,
    view: discord.ui.View | None = None,
    files: Sequence[discord.File] | None = None,
    ephemeral: bool = True,
    allowed_mentions: discord.AllowedMentions | None = None,
) -> None:
    """Answer an interaction, switching to a followup once the response is used."""
    kwargs: dict[str, Any] = {
        "ephemeral": ephemeral,
        "allowed_mentions": allowed_mentions or discord.AllowedMentions.none(),
    }
    if content is not None:
        kwargs["content"] = content
    if embed is not None:
        kwargs["embed"] = embed
    if embeds is not None:
        kwargs["embeds"] = list(embeds)
    if view is not None:
        kwargs["view"] = view
    if files:
        kwargs["files"] = list(files)
    if not interaction.response.is_done():
        await interaction.response.send_message(**kwargs)
        return
    try:
        await interaction.followup.send(**kwargs)
    except discord.HTTPException as error:
        if error.code not in EXPIRED_TOKEN_CODES:
            raise
        await _reply_without_token(interaction, kwargs)


#: A followup after the interaction token's 15 minutes: Invalid Webhook Token / Unknown Webhook.
EXPIRED_TOKEN_CODES = frozenset({50027, 10015})


async def _reply_without_token(
    interaction: discord.Interaction[Any], kwargs: dict[str, Any]
) -> None:
    """The token expired during slow work: a private answer goes by DM, a public one to the
    channel, so the result is not lost."""
    ephemeral = kwargs.pop("ephemeral", True)
    log.warning(
        "Interaction token expired (guild=%s user=%s); answering outside the interaction",
        interaction.guild_id,
        interaction.user.id,
    )
    if ephemeral:
        await interaction.user.send(**kwargs)
    elif isinstance(interaction.channel, discord.abc.Messageable):
        await interaction.channel.send(**kwargs)


class CheckRefused(app_commands.CheckFailure):
    """The project's error raised by a command check, carried to the tree's error handler:
    discord.py routes only its own ``AppCommandError`` from checks to ``on_error``."""

    def __init__(self, error: ExpectedError) -> None:
        super().__init__(error.message)
        self.error = error


def unwrap_error(error: BaseException) -> BaseException:
    """The project's error inside discord.py's wrappers (a command body's
    ``CommandInvokeError``, a transformer's ``TransformerError``, a check's ``CheckRefused``)."""
    if isinstance(error, CheckRefused):
        return error.error
    if isinstance(error, app_commands.CommandInvokeError):
        return error.original
    if isinstance(error, app_commands.TransformerError) and isinstance(
        error.__cause__, ExpectedError
    ):
        return error.__cause__
    return error


def describe_expected_error(error: BaseException) -> str | None:
    """The short private message for an expected error, or None for a bug."""
    unwrapped = unwrap_error(error)
    if isinstance(unwrapped, ExpectedError):
        return unwrapped.message
    if isinstance(unwrapped, DatabaseBusyError):
        return BUSY_TEXT
    original = getattr(error, "original", error)
    if isinstance(original, discord.RateLimited):
        # Discord asked for a long pause (over the bot's max_ratelimit_timeout).
        return (
            "Discord is asking CohortBot to slow down right now. "
            f"Please try again in about {max(1, round(original.retry_after))} seconds."
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That only works inside a course server, not in direct messages."
    if isinstance(error, app_commands.MissingPermissions | app_commands.MissingAnyRole):
        return "You don't have permission to use that command."
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I'm missing a permission I need here: {missing}. Ask an instructor to check it."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little — try again in {error.retry_after:.0f} seconds."
    if isinstance(error, app_commands.TransformerError):
        return f"“{error.value}” isn't a valid value there. Please pick one of the suggestions."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that command here."
    return None


async def report_error(
    interaction: discord.Interaction[Any], error: BaseException, *, where: str | None = None
) -> None:
    """The one error path for commands, buttons and modals."""
    message = describe_expected_error(error)
    if message is None:
        original = getattr(error, "original", error)
        command = where or (interaction.command.qualified_name if interaction.command else "?")
        log.error(
            "Unhandled error in %s (guild=%s user=%s)",
            command,
            interaction.guild_id,
            interaction.user.id if interaction.user else None,
            exc_info=(type(original), original, original.__traceback__),
        )
        message = UNEXPECTED_ERROR_TEXT
    elif message == BUSY_TEXT or isinstance(getattr(error, "original", error), discord.RateLimited):
        log.warning(
            "Retryable failure during an interaction (guild=%s): %s", interaction.guild_id, message
        )
    try:
        await reply(interaction, message, ephemeral=True)
    except discord.HTTPException:
        # The interaction may have expired; the log line above is what remains.
        log.warning("Could not tell user %s about an error", interaction.user.id)


class CohortView(discord.ui.View):
    """Base view: errors go through the shared handler."""

    async def on_error(
        self,
        interaction: discord.Interaction[Any],
        error: Exception,
        item: discord.ui.Item[Any],
    ) -> None:
        await report_error(interaction, error, where=f"view {type(self).__name__}")


class CohortModal(discord.ui.Modal):
    """Base modal: errors go through the shared handler."""

    async def on_error(  # type: ignore[override]  # Modal narrows BaseView's signature
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await report_error(interaction, error, where=f"modal {type(self).__name__}")
