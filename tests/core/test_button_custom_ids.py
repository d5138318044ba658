"""Every persistent button's custom_id, pinned: messages already posted carry these strings, so
a button built from sample values must give exactly today's id (and its look), and the id must
parse back to the same button. A new persistent button must be added here."""

from __future__ import annotations

import importlib
from pathlib import Path

import discord
import pytest

from bot.app import FEATURES
from bot.ui import CohortButton
from cogs.coffee_chats.cog import (
    AfterButton,
    OutcomeButton,
    ReportButton,
    ReviewButton,
    StayButton,
)
from cogs.coffee_shop.cog import PulseButton
from cogs.course.calendar_cog import CloseTermButton, UpcomingButton
from cogs.digest.cog import FollowUpButton
from cogs.introductions.cog import WriteIntroButton
from cogs.mentors.cog import AnswerButton, AskButton, BecomeMentorButton, PairReportButton
from cogs.nudges.cog import KeepInTouchButton, OptInOfferButton, StopRemindersButton
from cogs.roster.cog import ApplyImportButton, JoinCodeButton

ROOT = Path(__file__).resolve().parents[2]
Style = discord.ButtonStyle

#: (the button built from sample values, its custom_id today, its label, its style)
PINNED: list[tuple[CohortButton, str, str, discord.ButtonStyle]] = [
    (ReportButton(1, 2), "cohortbot:match:report:1:2", "Report to staff", Style.secondary),
    (OutcomeButton(1, 2, "met"), "cohortbot:match:out:1:2:met", "Met", Style.success),
    (OutcomeButton(1, 2, "not_yet"), "cohortbot:match:out:1:2:not_yet", "Not yet", Style.secondary),
    (
        OutcomeButton(1, 2, "no_connect"),
        "cohortbot:match:out:1:2:no_connect",
        "Couldn't connect",
        Style.secondary,
    ),
    (
        AfterButton(1, 2, "rematch"),
        "cohortbot:match:after:1:2:rematch",
        "Find me a new partner",
        Style.primary,
    ),
    (
        AfterButton(1, 2, "priority"),
        "cohortbot:match:after:1:2:priority",
        "Priority next round",
        Style.primary,
    ),
    (StayButton(1, "stay"), "cohortbot:match:stay:1:stay", "Stay in", Style.secondary),
    (StayButton(1, "pause"), "cohortbot:match:stay:1:pause", "Pause 4 weeks", Style.secondary),
    (StayButton(1, "pause", 2), "cohortbot:match:stay:1:pause:2", "Pause 2 weeks", Style.secondary),
    (ReviewButton(1, 3), "cohortbot:match:review:1:3", "Review the proposal", Style.primary),
    (
        PulseButton(3, "20261207", "great"),
        "cohortbot:pulse:3:20261207:great",
        "Going well",
        Style.success,
    ),
    (
        PulseButton(3, "20261207", "hard"),
        "cohortbot:pulse:3:20261207:hard",
        "Really hard",
        Style.secondary,
    ),
    (
        PulseButton(3, "20261207", "reach"),
        "cohortbot:pulse:3:20261207:reach",
        "Please reach out to me",
        Style.primary,
    ),
    (CloseTermButton("close", 4), "cohortbot:term:close:4", "Close the term", Style.danger),
    (CloseTermButton("keep", 4), "cohortbot:term:keep:4", "Cancel", Style.secondary),
    (
        UpcomingButton("skip", "nudge:1:intro:2026-12-07"),
        "cohortbot:upcoming:skip:nudge:1:intro:2026-12-07",
        "Skip this one",
        Style.danger,
    ),
    (
        UpcomingButton("edit", "prompt:5"),
        "cohortbot:upcoming:edit:prompt:5",
        "Edit its text",
        Style.primary,
    ),
    (FollowUpButton("reach", 7, 8), "cohortbot:digest:reach:7:8", "I'll reach out", Style.primary),
    (
        FollowUpButton("contacted", 7, 8, 2),
        "cohortbot:digest:contacted:7:8",
        "2. Contacted",
        Style.success,
    ),
    (FollowUpButton("excused", 7, 8), "cohortbot:digest:excused:7:8", "Excused", Style.secondary),
    (FollowUpButton("clear", 7, 8), "cohortbot:digest:clear:7:8", "Clear", Style.secondary),
    (WriteIntroButton(9), "cohortbot:intro:write:9", "Write my introduction", Style.primary),
    (
        BecomeMentorButton(5),
        "cohortbot:mentors:offer:5",
        "Be a mentor for the next cohort",
        Style.primary,
    ),
    (AskButton(1, 6), "cohortbot:mentors:ask:1:6", "Ask", Style.primary),
    (AskButton(1, 6, "Ask 2"), "cohortbot:mentors:ask:1:6", "Ask 2", Style.primary),
    (AnswerButton("accept", 1, 7), "cohortbot:mentors:accept:1:7", "Accept", Style.success),
    (AnswerButton("decline", 1, 7), "cohortbot:mentors:decline:1:7", "Decline", Style.secondary),
    (PairReportButton(1, 7), "cohortbot:mentors:report:1:7", "Report to staff", Style.secondary),
    (OptInOfferButton("yes", 1), "cohortbot:nudges:offer:yes:1", "Yes, remind me", Style.success),
    (OptInOfferButton("no", 1), "cohortbot:nudges:offer:no:1", "No thanks", Style.secondary),
    (StopRemindersButton(1), "cohortbot:nudges:stop:1", "Stop these reminders", Style.secondary),
    (KeepInTouchButton(4), "cohortbot:term:kit:4", "Keep in touch", Style.primary),
    (
        ApplyImportButton(11, "0123456789abcdef0123"),
        "cohortbot:roster:apply:11:0123456789abcdef",
        "Apply",
        Style.success,
    ),
    (JoinCodeButton(), "cohortbot:roster:join", "Join with a code", Style.secondary),
]


@pytest.mark.parametrize(("button", "custom_id", "label", "style"), PINNED)
def test_a_persistent_buttons_custom_id_and_look_stay_as_posted(
    button: CohortButton, custom_id: str, label: str, style: discord.ButtonStyle
) -> None:
    assert (button.item.custom_id, button.item.label, button.item.style) == (
        custom_id,
        label,
        style,
    )
    match = type(button).__discord_ui_compiled_template__.fullmatch(custom_id)
    assert match is not None
    assert type(button).from_match(match).item.custom_id == custom_id


def test_every_persistent_button_of_the_features_is_pinned() -> None:
    for feature in FEATURES:
        for module in (ROOT / feature.replace(".", "/")).glob("*cog.py"):
            importlib.import_module(f"{feature}.{module.stem}")

    def subclasses(cls: type[CohortButton]) -> set[type[CohortButton]]:
        found = set(cls.__subclasses__())
        return found.union(*(subclasses(sub) for sub in found))

    in_features = {b for b in subclasses(CohortButton) if b.__module__.startswith("cogs.")}
    assert in_features == {type(button) for button, *_ in PINNED}


class BuiltButton(CohortButton, template=r"cohortbot:built:(?P<choice>a|b):(?P<n>[0-9]{1,3})"):
    where = "button built"

    def __init__(self, choice: str, n: int) -> None:
        self.choice, self.n = choice, n
        super().__init__(label="Built", style=discord.ButtonStyle.primary)


def test_a_custom_id_is_built_from_the_template_and_the_buttons_attributes() -> None:
    assert BuiltButton("b", 42).item.custom_id == "cohortbot:built:b:42"


def test_a_template_with_more_than_plain_text_around_its_groups_needs_its_custom_id() -> None:
    class Optional(CohortButton, template=r"cohortbot:optional(?::(?P<n>[0-9]+))?"):
        where = "button optional"

        def __init__(self, n: int | None = None) -> None:
            self.n = n
            super().__init__(label="Optional", style=discord.ButtonStyle.primary)

    with pytest.raises(TypeError, match="must pass its custom_id"):
        Optional(3)
