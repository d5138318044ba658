"""The shared base of the persistent buttons: one Button built from its parts, the custom_id
parsed by the subclass, and every click's error answered and logged under the button's name."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import discord
import pytest

from bot.ui import UNEXPECTED_ERROR_TEXT, ButtonFace, ButtonFaces, CohortButton, was_refused
from tests.support.fake_interaction import FakeResponse
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


class ParsedButton(
    CohortButton, template=r"cohortbot:parsed:(?P<guild_id>[0-9]+):(?P<code>[0-9]+)(?::(?P<n>\d))?"
):
    """No from_match of its own: the template's groups are its constructor's parameters."""

    where = "button parsed"

    def __init__(self, guild_id: int, code: str, n: int | None = None) -> None:
        self.guild_id, self.code, self.n = guild_id, code, n
        suffix = f":{n}" if n is not None else ""
        super().__init__(
            f"cohortbot:parsed:{guild_id}:{code}{suffix}",
            label="Parsed",
            style=discord.ButtonStyle.primary,
        )


@pytest.mark.parametrize(
    ("custom_id", "expected"),
    [("cohortbot:parsed:7:0042", (7, "0042", None)), ("cohortbot:parsed:7:9:3", (7, "9", 3))],
)
def test_a_button_without_its_own_parser_takes_the_templates_groups(
    custom_id: str, expected: tuple[int, str, int | None]
) -> None:
    match = ParsedButton.__discord_ui_compiled_template__.fullmatch(custom_id)
    assert match is not None
    parsed = ParsedButton.from_match(match)
    # An int parameter is converted; a str one keeps its text (leading zeros and all).
    assert (parsed.guild_id, parsed.code, parsed.n) == expected
    assert parsed.item.custom_id == custom_id


def test_a_template_group_the_constructor_lacks_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match=r"\['guild'\] are not constructor parameters"):

        class Mismatched(CohortButton, template=r"cohortbot:mismatched:(?P<guild>[0-9]+)"):
            where = "button mismatched"

            def __init__(self, guild_id: int) -> None:
                super().__init__(
                    f"cohortbot:mismatched:{guild_id}", label="M", style=discord.ButtonStyle.primary
                )


class FacedButton(CohortButton, template=r"cohortbot:faced:(?P<choice>yes|no):(?P<n>[0-9]+)"):
    """Two faces: its look follows the choice in its custom_id."""

    where = "button faced"
    faces: ClassVar[ButtonFaces] = {
        "yes": ButtonFace("Yes please", discord.ButtonStyle.success),
        "no": ButtonFace("No thanks", discord.ButtonStyle.secondary),
    }

    def __init__(self, choice: str, n: int) -> None:
        self.choice, self.n = choice, n
        super().__init__(face=choice)


def test_a_faced_button_looks_as_its_choice_says() -> None:
    looks = [
        (b.item.custom_id, b.item.label, b.item.style)
        for b in (FacedButton("yes", 4), FacedButton("no", 4))
    ]
    assert looks == [
        ("cohortbot:faced:yes:4", "Yes please", discord.ButtonStyle.success),
        ("cohortbot:faced:no:4", "No thanks", discord.ButtonStyle.secondary),
    ]


def test_a_button_with_neither_a_look_nor_a_face_is_refused() -> None:
    class Styleless(CohortButton, template=r"cohortbot:styleless"):
        where = "button styleless"

        def __init__(self) -> None:
            super().__init__(label="A label but no style")

    with pytest.raises(TypeError, match="needs a label and a style, or a face"):
        Styleless()
