"""The shared base of the persistent buttons: one Button built from its parts, the custom_id
parsed by the subclass, and every click's error answered and logged under the button's name."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.ui import UNEXPECTED_ERROR_TEXT, CohortButton, was_refused
from tests.support.logs import ErrorLogWatcher


class ProbeButton(CohortButton, template=r"cohortbot:probe:(?P<n>[0-9]+)"):
    where = "button probe"

    def __init__(self, n: int) -> None:
        self.n = n
        super().__init__(
            f"cohortbot:probe:{n}", label="Probe", style=discord.ButtonStyle.danger, emoji="🚩"
        )

    @classmethod
    def from_match(cls, match: re.Match[str]) -> ProbeButton:
        return cls(int(match["n"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        raise RuntimeError(f"probe {self.n} broke")


class FakeResponse:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


def fake_interaction() -> discord.Interaction[Any]:
    fake = SimpleNamespace(
        extras={}, guild_id=7, user=SimpleNamespace(id=42), command=None, response=FakeResponse()
    )
    return cast("discord.Interaction[Any]", fake)


async def test_a_button_is_built_from_its_parts_and_parsed_back() -> None:
    button = ProbeButton(12)
    assert button.item.custom_id == "cohortbot:probe:12"
    assert button.item.label == "Probe"
    assert button.item.style is discord.ButtonStyle.danger
    assert str(button.item.emoji) == "🚩"
    match = ProbeButton.__discord_ui_compiled_template__.fullmatch("cohortbot:probe:12")
    assert match is not None
    parsed = await ProbeButton.from_custom_id(fake_interaction(), button.item, match)
    assert isinstance(parsed, ProbeButton) and parsed.n == 12


async def test_an_error_in_a_click_is_answered_and_logged_under_the_buttons_name(
    error_logs: ErrorLogWatcher,
) -> None:
    error_logs.expect("Unhandled error in button probe")
    interaction = fake_interaction()
    await ProbeButton(3).callback(interaction)
    assert error_logs.seen("Unhandled error in button probe")
    assert was_refused(interaction)
    response = cast("FakeResponse", interaction.response)
    assert [m["content"] for m in response.sent] == [UNEXPECTED_ERROR_TEXT]


def test_a_button_without_a_name_for_the_log_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="must set `where`"):

        class Nameless(CohortButton, template=r"cohortbot:nameless"):
            pass
