"""What feature cogs share (bot/command_kit.py, bot/commands.py): the FeatureCog base, the
cohort option, a persistent view, the server a button names, a long answer in chunks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest
from discord import app_commands

from bot.command_kit import FeatureCog, button_guild, persistent_view, reply_lines
from bot.commands import cohort_autocomplete, cohort_option
from bot.errors import UserFacingError
from bot.ui import CohortButton
from tests.support.fake_interaction import FakeResponse


class FakeFollowup:
    def __init__(self, response: FakeResponse) -> None:
        self.response = response

    async def send(self, **kwargs: Any) -> None:
        self.response.sent.append(kwargs)


def fake_interaction(guilds: dict[int, object] | None = None) -> discord.Interaction[Any]:
    response = FakeResponse()
    client = SimpleNamespace(get_guild=(guilds or {}).get)
    fake = SimpleNamespace(response=response, followup=FakeFollowup(response), client=client)
    return cast("discord.Interaction[Any]", fake)


async def test_a_persistent_view_never_times_out_and_keeps_the_items_in_order() -> None:
    first = discord.ui.Button[Any](label="one", custom_id="kit:1")
    second = discord.ui.Button[Any](label="two", custom_id="kit:2")
    view = persistent_view(first, second)
    assert view.timeout is None
    assert view.children == [first, second]


def test_a_button_names_a_server_the_bot_is_in_or_is_refused() -> None:
    guild = object()
    assert button_guild(fake_interaction({5: guild}), 5) is guild
    with pytest.raises(UserFacingError, match="doesn't belong to a server I'm in"):
        button_guild(fake_interaction({5: guild}), 6)


async def test_a_long_answer_goes_in_chunks_within_the_limit_and_loses_nothing() -> None:
    interaction = fake_interaction()
    lines = [f"line {i:03} " + "x" * 40 for i in range(100)]
    await reply_lines(interaction, lines, 1000)
    sent = cast("FakeResponse", interaction.response).sent
    assert len(sent) > 1
    assert all(len(m["content"]) <= 1000 and m["ephemeral"] for m in sent)
    assert "\n".join(m["content"] for m in sent).split("\n") == lines


class RecordingBot:
    """Only what FeatureCog calls on the bot, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        outbox = SimpleNamespace(register_view=lambda *view: self.calls.append(("view", view)))
        self.app = SimpleNamespace(outbox=outbox)

    def add_inline_listeners(self, listeners: Any) -> None:
        self.calls.append(("add_inline", tuple(listeners)))

    def remove_inline_listeners(self, listeners: Any) -> None:
        self.calls.append(("remove_inline", tuple(listeners)))

    def add_message_filter(self, message_filter: Any) -> None:
        self.calls.append(("add_filter", (message_filter,)))

    def remove_message_filter(self, message_filter: Any) -> None:
        self.calls.append(("remove_filter", (message_filter,)))

    def add_dynamic_items(self, *items: Any) -> None:
        self.calls.append(("add_items", items))

    def remove_dynamic_items(self, *items: Any) -> None:
        self.calls.append(("remove_items", items))


class ProbeButton(CohortButton, template=r"cohortbot:kit-probe:(?P<n>[0-9]+)"):
    where = "button kit-probe"

    def __init__(self, n: int) -> None:
        super().__init__(f"cohortbot:kit-probe:{n}", label="P", style=discord.ButtonStyle.primary)


def probe_view(args: tuple[str, ...]) -> discord.ui.View:
    return persistent_view(ProbeButton(int(args[0])))


class ProbeCog(FeatureCog):
    buttons = (ProbeButton,)
    outbox_views = (("kit:probe", probe_view),)

    def __init__(self, bot: Any) -> None:
        super().__init__(bot)
        self._inline = (("raw_reaction_add", self.on_probe),)
        self._message_filters = (self.on_message_probe,)

    def on_probe(self, payload: object) -> None:
        return None

    def on_message_probe(self, message: object, config: object) -> None:
        return None


async def test_a_feature_cog_adds_what_it_declares_on_load_and_removes_it_on_unload() -> None:
    bot = RecordingBot()
    cog = ProbeCog(bot)
    assert cog.bot is bot and cog.app is bot.app and cog.course_group is None
    await cog.cog_load()
    inline = (("raw_reaction_add", cog.on_probe),)
    assert bot.calls == [
        ("add_inline", inline),
        ("add_filter", (cog.on_message_probe,)),
        ("add_items", (ProbeButton,)),
        ("view", ("kit:probe", probe_view)),
    ]
    bot.calls.clear()
    await cog.cog_unload()
    # The views stay registered with the outbox (it has no way to unregister one).
    assert bot.calls == [
        ("remove_inline", inline),
        ("remove_filter", (cog.on_message_probe,)),
        ("remove_items", (ProbeButton,)),
    ]


def test_the_cohort_option_is_autocompleted_and_described() -> None:
    @app_commands.command(name="probe", description="Probe")
    @cohort_option("Which cohort")
    async def described(interaction: discord.Interaction[Any], cohort: str | None = None) -> None:
        return None

    @app_commands.command(name="probe", description="Probe")
    @cohort_option()
    async def bare(interaction: discord.Interaction[Any], cohort: str | None = None) -> None:
        return None

    assert described._params["cohort"].autocomplete is cohort_autocomplete
    assert str(described._params["cohort"].description) == "Which cohort"
    assert bare._params["cohort"].autocomplete is cohort_autocomplete
    assert str(bare._params["cohort"].description) == "…"
