"""Discord UI building blocks that share one error path and one reply helper."""

from __future__ import annotations

import logging
import re
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self

import discord
from discord import app_commands

from bot.errors import ExpectedError
from bot.store.db import DatabaseBusyError
from bot.text import EMBED_LIMITS, MESSAGE_LIMIT, quote_input, shorten

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
    """Answer an interaction, switching to a followup once the response is used.

    The one send path for answers: whatever a command built, the message is fitted within
    Discord's limits here (cut visibly, with a warning in the log), so an over-long answer is
    shortened instead of refused — a refusal would leave the person with "The application
    did not respond"."""
    content, embeds = fit_message(content, [embed] if embed is not None else embeds)
    embed = None
    kwargs: dict[str, Any] = {
        "ephemeral": ephemeral,
        "allowed_mentions": allowed_mentions or discord.AllowedMentions.none(),
    }
    if content is not None:
        kwargs["content"] = content
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


def fit_message(
    content: str | None, embeds: Sequence[discord.Embed] | None
) -> tuple[str | None, list[discord.Embed] | None]:
    """Content and embeds cut to Discord's limits (2,000 characters, 10 embeds, each part
    and 6,000 characters in all); logged when anything had to be cut."""
    cut: list[str] = []
    if content is not None and len(content) > MESSAGE_LIMIT:
        cut.append(f"content {len(content)}")
        content = shorten(content, MESSAGE_LIMIT)
    if embeds is None:
        return content, None
    fitted = list(embeds)
    if len(fitted) > EMBED_LIMITS.per_message:
        cut.append(f"{len(fitted)} embeds")
        fitted = fitted[: EMBED_LIMITS.per_message]
    budget = EMBED_LIMITS.total

    def fit(text: str | None, limit: int, what: str) -> str | None:
        nonlocal budget
        if text is None:
            return None
        allowed = min(limit, budget)
        if len(text) > allowed:
            cut.append(f"{what} {len(text)}")
            if allowed < 1:
                return None  # the 6,000 characters are used up
            text = shorten(text, allowed) if allowed > 1 else "…"
        budget -= len(text)
        return text

    for embed in fitted:
        embed.title = fit(embed.title, EMBED_LIMITS.title, "title")
        if embed.author and embed.author.name:
            embed.set_author(
                name=fit(embed.author.name, EMBED_LIMITS.author, "author"),
                url=embed.author.url,
                icon_url=embed.author.icon_url,
            )
        embed.description = fit(embed.description, EMBED_LIMITS.description, "description")
        fields = embed.fields
        if len(fields) > EMBED_LIMITS.fields:
            cut.append(f"{len(fields)} fields")
        embed.clear_fields()
        for field in fields[: EMBED_LIMITS.fields]:
            if budget < 2:
                cut.append("fields beyond 6000")
                break
            # A field needs a name and a value: the name leaves room for at least "…".
            name = fit(field.name or "…", min(EMBED_LIMITS.field_name, budget - 1), "field name")
            value = fit(field.value or "…", EMBED_LIMITS.field_value, "field value")
            embed.add_field(name=name or "…", value=value or "…", inline=bool(field.inline))
        if embed.footer and embed.footer.text:
            embed.set_footer(
                text=fit(embed.footer.text, EMBED_LIMITS.footer, "footer"),
                icon_url=embed.footer.icon_url,
            )
    if cut:
        log.warning("A reply was over Discord's limits and was shortened: %s", ", ".join(cut))
    return content, fitted


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


#: The answer to an id that cannot exist (a number no SQLite row can hold).
NOT_FOUND_TEXT = "I can't find that any more. Nothing was changed."


def describe_expected_error(error: BaseException) -> str | None:
    """The short private message for an expected error, or None for a bug."""
    unwrapped = unwrap_error(error)
    if isinstance(unwrapped, ExpectedError):
        return unwrapped.message
    if isinstance(unwrapped, DatabaseBusyError):
        return BUSY_TEXT
    if isinstance(unwrapped, OverflowError) and "INTEGER" in str(unwrapped):
        # A forged custom_id or link carrying a number past the store's 64 bits: nothing of ours
        # has such an id, so it is simply not found.
        return NOT_FOUND_TEXT
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
        return (
            f"{quote_input(error.value)} isn't a valid value there. "
            "Please pick one of the suggestions."
        )
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that command here."
    return None


#: Set in ``interaction.extras`` by report_error: the interaction was refused or failed.
REFUSED = "cohortbot_refused"


def was_refused(interaction: discord.Interaction[Any]) -> bool:
    """Whether the interaction was answered through the error path (not carried out)."""
    return bool(interaction.extras.get(REFUSED))


async def report_error(
    interaction: discord.Interaction[Any], error: BaseException, *, where: str | None = None
) -> None:
    """The one error path for commands, buttons and modals."""
    interaction.extras[REFUSED] = True
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


class ButtonFace(NamedTuple):
    """How a persistent button looks for one value of the choice in its custom_id."""

    label: str
    style: discord.ButtonStyle


#: A two- (or more) faced button's looks: choice -> label and style.
ButtonFaces = Mapping[str, ButtonFace]


class CohortButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """Base persistent button (survives restarts): builds its one Button, parses the
    custom_id through :meth:`from_match`, and runs clicks through the shared error path.

    A subclass passes its own ``template=`` (the custom_id format is a contract with messages
    already posted: never change it), sets ``where`` (names the button in the error log) and
    implements :meth:`run`. The template's named groups are its constructor's parameters of
    the same names (those annotated ``int`` are converted), unless it implements its own
    :meth:`from_match`; the constructor stores each as an attribute of the same name, from
    which the custom_id is built (a template with more than plain text around its groups,
    an optional part say, passes its custom_id instead). A button whose look depends on a
    choice in its custom_id (yes/no, close/keep) lists each choice's look in ``faces`` and
    passes ``face=`` the choice instead of a label and a style. This base's own template
    matches nothing, and it is never registered."""

    where: ClassVar[str]
    #: Choice -> label and style, for a button that passes ``face=`` to the constructor.
    faces: ClassVar[ButtonFaces] = {}
    #: The template's named groups, each with whether the constructor takes it as an int.
    _groups: ClassVar[dict[str, bool]] = {}
    #: The template as a format string (each group a ``{name}``), None when it is not plain.
    _custom_id_format: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Checked at import: a missing name would only fail inside the error path.
        if not getattr(cls, "where", ""):
            raise TypeError(f"{cls.__name__} must set `where` (names it in the error log)")
        if "from_match" not in cls.__dict__:
            cls._groups = _constructor_groups(cls)
        cls._custom_id_format = _custom_id_format(cls.__discord_ui_compiled_template__.pattern)

    def __init__(
        self,
        custom_id: str | None = None,
        *,
        label: str | None = None,
        style: discord.ButtonStyle | None = None,
        emoji: str | None = None,
        face: str | None = None,
    ) -> None:
        if face is not None:
            label, style = self.faces[face]
        if label is None or style is None:
            raise TypeError(f"{type(self).__name__} needs a label and a style, or a face")
        if custom_id is None:
            custom_id = self._built_custom_id()
        super().__init__(
            discord.ui.Button(label=label, style=style, emoji=emoji, custom_id=custom_id)
        )

    def _built_custom_id(self) -> str:
        """The template with each named group replaced by the attribute of the same name."""
        if self._custom_id_format is None:
            raise TypeError(
                f"{type(self).__name__}: its template is not plain text around named groups, "
                "so it must pass its custom_id"
            )
        groups = self.__discord_ui_compiled_template__.groupindex
        return self._custom_id_format.format_map({name: getattr(self, name) for name in groups})

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Self:
        """The button a custom_id stands for (only a lookup key: ``run`` checks the click)."""
        arguments: dict[str, Any] = {
            name: int(value) if cls._groups[name] and value is not None else value
            for name, value in match.groupdict().items()
        }
        return cls(**arguments)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        return cls.from_match(match)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        """What a click does; any error is answered and logged by :func:`report_error`."""
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.run(interaction)
        except Exception as error:
            await report_error(interaction, error, where=self.where)


def _constructor_groups(cls: type[CohortButton]) -> dict[str, bool]:
    """The named groups of ``cls``'s template, each with whether its constructor parameter of
    the same name is an ``int`` (``int | None`` for an optional group). Checked at import, so
    a template and a constructor that disagree fail at once, not on the first click."""
    template: re.Pattern[str] = cls.__discord_ui_compiled_template__
    hints = typing.get_type_hints(cls.__init__)
    missing = [name for name in template.groupindex if name not in hints]
    if missing:
        raise TypeError(
            f"{cls.__name__}: the template's groups {missing} are not constructor parameters "
            "(name them alike, or implement from_match)"
        )
    return {name: hints[name] in (int, int | None) for name in template.groupindex}


#: A named group whose pattern holds no parenthesis of its own: ``(?P<name>…)``.
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()\\]|\\.)*\)")
#: The text a template may have around its groups for a custom_id to be built from it.
_PLAIN_TEXT = re.compile(r"[\w:-]*")


def _custom_id_format(template: str) -> str | None:
    """``template`` as a format string, each named group a ``{name}`` field; None when the
    text around the groups is more than plain text (an optional part, an alternative)."""
    if not _PLAIN_TEXT.fullmatch(_NAMED_GROUP.sub("", template)):
        return None
    return _NAMED_GROUP.sub(r"{\1}", template)
