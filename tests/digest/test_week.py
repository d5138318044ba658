"""A hand-built course week: every headline number and every needs-attention rule has a case
just in and a case just out. Runs the real repositories and services on a real SQLite file
(no Discord needed: the students are passed in as the roster would give them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import AppContext, build_features, close_app, open_app
from bot.clock import FakeClock
from bot.store.guilds import Cohort
from bot.store.times import to_db_time
from cogs.coffee_chats import MatchingService
from cogs.coffee_chats.repository import NewGroup, Outcome
from cogs.coffee_shop import CoffeeService
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from cogs.digest import DigestService
from cogs.digest.render import parse_csv
from cogs.digest.rules import NOT_AVAILABLE
from cogs.digest.service import StudentRef
from cogs.introductions import IntroService
from cogs.prompts import PromptService
from cogs.prompts.repository import PromptPost
from tests.support.postgres import store_settings

GUILD = 900
NY = ZoneInfo("America/New_York")
# Monday 2026-09-21 09:00 in New York: "this week" is [Sep 14 09:00, Sep 21 09:00).
AS_OF = datetime(2026, 9, 21, 9, 0, tzinfo=NY).astimezone(UTC)
START = AS_OF - timedelta(days=7)  # no DST change in these weeks
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)

NAMES = [
    "Active Start",  # 1: event exactly at the week's start (active this week)
    "Active Before",  # 2: event one second before it (active last week only)
    "Drift In",  # 3: last activity exactly 14 days ago
    "Drift Out",  # 4: last activity 14 days minus one second ago
    "New Drift In",  # 5: no activity, joined exactly 14 days ago
    "Away Drifting",  # 6: away, last activity 20 days ago -> listed as away
    "Away Active",  # 7: away, active this week -> not listed
    "Away Expired",  # 8: away until yesterday -> not away, active
    "Reach In",  # 9: "please reach out" this week
    "Reach Out Of Week",  # 10: "please reach out" last week
    "Unanswered In",  # 11: answer exactly 48 h old, no reply
    "Unanswered Too New",  # 12: answer 48 h minus one second old
    "Answered",  # 13: answer 3 days old with a reply (also the replier's target)
    "DMs Closed",  # 14
    "Intro Missing In",  # 15: no intro, joined exactly 7 days ago
    "Intro Missing Out",  # 16: no intro, joined 7 days minus one second ago
    "Not Replying In",  # 17: 2 answers, never replied
    "Replier",  # 18: 2 answers, 1 reply
    "One Answer",  # 19: 1 answer, never replied
    "No Meeting In",  # 20: matched in two rounds (3 weeks ago, this week), met in neither
    "No Meeting Out",  # 21: matched twice without meeting, then met last week
    "Twice At End",  # 22: not met 3 weeks ago; its second round is posted at the digest's instant
    "Reported In",  # 23: named in a report to staff exactly at the week's start
    "Reported Out",  # 24: reported one second before it, and this week in another cohort
]
IDS = {name: 1000 + i for i, name in enumerate(NAMES, start=1)}
OTHER_COHORT_STUDENT = 5000
STAFF = 6000


@dataclass
class World:
    app: AppContext
    cohort: Cohort
    other: Cohort
    refs: list[StudentRef]


@pytest.fixture
async def world(store_target: str, tmp_path: Path) -> AsyncIterator[World]:
    app = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(AS_OF))
    build_features(app)
    try:
        await app.services.get(SetupService).apply(
            GUILD, SetupRequest(student_role_id=1, timezone="America/New_York", lead_role_id=2)
        )
        other = await app.services.get(SetupService).add_cohort(GUILD, "Evening", 3, None)
        cohort = (await app.guild_settings.cohorts(GUILD))[0]
        joined = {uid: AS_OF - 30 * DAY for uid in IDS.values()}
        joined[IDS["New Drift In"]] = AS_OF - 14 * DAY
        joined[IDS["Intro Missing In"]] = AS_OF - 7 * DAY
        joined[IDS["Intro Missing Out"]] = AS_OF - 7 * DAY + SECOND
        refs = [StudentRef(uid, name, joined[uid]) for name, uid in IDS.items()]
        await build_week(app, cohort, other)
        yield World(app, cohort, other, refs)
    finally:
        await close_app(app)


async def build_week(app: AppContext, cohort: Cohort, other: Cohort) -> None:
    a = IDS
    rows: list[tuple[int, int, str, int | None, int]] = []

    def event(name: str | int, when: datetime) -> None:
        uid = a[name] if isinstance(name, str) else name
        rows.append((GUILD, uid, "message", 77, to_db_time(when)))

    quiet = {"Active Before", "Drift In", "Drift Out", "New Drift In", "Away Drifting"}
    for name in NAMES:
        if name not in quiet:
            event(name, AS_OF - 2 * DAY)  # active this week
    event("Active Start", START)
    event("Active Before", START - SECOND)
    event("Drift In", AS_OF - 14 * DAY)
    event("Drift Out", AS_OF - 14 * DAY + SECOND)
    event("Away Drifting", AS_OF - 20 * DAY)
    event("Active Start", AS_OF)  # at the digest's instant: not counted (window end excluded)
    event(OTHER_COHORT_STUDENT, AS_OF - DAY)  # another cohort: not in this roster
    await app.activity.insert_many(rows)

    # Intros: everyone but the two "Intro Missing"; one written at the week's start, one just
    # before it, one by staff (not a student).
    for name in NAMES:
        if name.startswith("Intro Missing"):
            continue
        when = AS_OF - 20 * DAY
        if name == "Active Start":
            when = START
        if name == "Active Before":
            when = START - SECOND
        await app.services.get(IntroService).repository.save(
            GUILD, a[name], source="message", channel_id=5, message_id=a[name],
            answers={}, now=when, reposted=True,
        )  # fmt: skip
    await app.services.get(IntroService).repository.save(
        GUILD, STAFF, source="message", channel_id=5, message_id=1,
        answers={}, now=START + DAY, reposted=True,
    )  # fmt: skip

    # Prompts.
    prompts = app.services.get(PromptService).store
    post_id = await prompts.add_post(
        guild_id=GUILD, cohort_id=cohort.cohort_id, week_key="2026-09-14", week_number=2,
        sequence=1, group_no=1, prompt_id=1, channel_id=70, is_forum=True, late=False,
        now=START - 7 * DAY,
    )  # fmt: skip
    other_post_id = await prompts.add_post(
        guild_id=GUILD, cohort_id=other.cohort_id, week_key="2026-09-14", week_number=2,
        sequence=1, group_no=1, prompt_id=1, channel_id=71, is_forum=True, late=False,
        now=START - 7 * DAY,
    )  # fmt: skip
    assert post_id and other_post_id
    post = await prompts.post(GUILD, post_id)
    other_post = await prompts.post(GUILD, other_post_id)
    assert post and other_post
    place = iter(range(10_000, 20_000))

    async def answer(name: str | int, when: datetime, p: PromptPost = post) -> int:
        uid = a[name] if isinstance(name, str) else name
        made = await prompts.add_answer(
            guild_id=GUILD, post=p, user_id=uid, place_id=next(place), message_id=next(place),
            by_bot=False, words=40, now=when,
        )  # fmt: skip
        assert made is not None
        return made.answer_id

    async def reply(name: str, answer_id: int, when: datetime, substantive: bool) -> None:
        await prompts.save_reply(
            guild_id=GUILD, message_id=next(place), answer_id=answer_id, user_id=a[name],
            words=20 if substantive else 3, substantive=substantive, now=when,
        )  # fmt: skip

    # This week: answers at the start (in) and 48 h / 48 h - 1 s before the digest.
    at_start = await answer("Active Start", START)
    await answer("Active Before", START - SECOND)  # last week
    await answer("Unanswered In", AS_OF - 48 * timedelta(hours=1))
    await answer("Unanswered Too New", AS_OF - 48 * timedelta(hours=1) + SECOND)
    answered = await answer("Answered", AS_OF - 3 * DAY)
    await reply("Replier", answered, AS_OF - 2 * DAY, substantive=True)
    await reply("Replier", at_start, START, substantive=False)
    await reply("Away Active", at_start, START - SECOND, substantive=True)  # last week
    # Totals for "never replies": answers on two different posts need two posts.
    post2_id = await prompts.add_post(
        guild_id=GUILD, cohort_id=cohort.cohort_id, week_key="2026-09-07", week_number=1,
        sequence=1, group_no=1, prompt_id=1, channel_id=70, is_forum=True, late=False,
        now=START - 14 * DAY,
    )  # fmt: skip
    assert post2_id
    post2 = await prompts.post(GUILD, post2_id)
    assert post2
    old = AS_OF - 20 * DAY  # outside the unanswered window (14 days)
    for name in ("Not Replying In", "Replier"):
        first = await answer(name, old, post2)
        await reply("Away Active", first, old + DAY, substantive=True)
        second = await answer(name, old + 6 * DAY)
        await reply("Away Active", second, old + 7 * DAY, substantive=True)
    single = await answer("One Answer", old)
    await reply("Away Active", single, old + DAY, substantive=True)
    # Older than the 14-day window: no longer listed as unanswered.
    await answer("Drift Out", AS_OF - 14 * DAY - SECOND, post2)
    await answer(OTHER_COHORT_STUDENT, START + DAY, other_post)  # other cohort: not counted

    # Coffee shop.
    coffee = app.services.get(CoffeeService).store
    for kind, when in (
        ("course_win", START),
        ("personal_win", START + DAY),
        ("course_win", START - SECOND),
        ("rough_week", START + DAY),
        ("life_update", START + DAY),
    ):
        await coffee.posts.add(
            guild_id=GUILD, cohort_id=cohort.cohort_id, author_id=a["Answered"], kind=kind,
            anonymous=False, channel_id=8, message_id=None, now=when,
        )  # fmt: skip
    for when, cohort_id in ((START, cohort.cohort_id), (START - SECOND, cohort.cohort_id),
                            (START + DAY, other.cohort_id)):  # fmt: skip
        await coffee.kudos.add(
            guild_id=GUILD, cohort_id=cohort_id, giver_id=a["Answered"],
            receiver_id=a["Replier"], reason="thanks", message_id=None, now=when,
        )  # fmt: skip
    await coffee.milestones.record(
        GUILD, a["Replier"], "first_peer_reply", cohort_id=cohort.cohort_id, now=START
    )
    await coffee.milestones.record(
        GUILD, a["Answered"], "first_answer", cohort_id=cohort.cohort_id, now=START - SECOND
    )
    pulse = await coffee.pulses.open_week(GUILD, date(2026, 9, 14), AS_OF, now=START + SECOND)
    for name in ("Active Start", "Answered", "Replier", "One Answer"):
        await coffee.pulses.answer(
            GUILD, pulse.pulse_id, a[name], cohort_id=cohort.cohort_id, answer="okay"
        )
    await coffee.pulses.reach_out(
        GUILD, pulse.pulse_id, a["Reach In"], cohort_id=cohort.cohort_id, now=START
    )
    await coffee.pulses.reach_out(
        GUILD, pulse.pulse_id, a["Reach Out Of Week"], cohort_id=cohort.cohort_id,
        now=START - SECOND,
    )  # fmt: skip

    # Away and DMs closed.
    today = AS_OF.astimezone(NY).date()
    await app.away.repository.start(
        GUILD, a["Away Drifting"], today + 9 * DAY, None, now=AS_OF - 3 * DAY
    )
    await app.away.repository.start(GUILD, a["Away Active"], today, None, now=AS_OF - 3 * DAY)
    await app.away.repository.start(
        GUILD, a["Away Expired"], today - DAY, None, now=AS_OF - 9 * DAY
    )
    await app.outbox.dm_channels.mark_dm_closed(GUILD, a["DMs Closed"], now=AS_OF - DAY)

    await build_coffee_chats(app, cohort, other)


async def post_round(
    app: AppContext,
    cohort: Cohort,
    posted_at: datetime,
    groups: list[dict[int | str, Outcome | None]],
) -> None:
    """A coffee-chat round saved and posted through the matching repository, then each
    member's answer as the follow-up buttons record it (None: no answer)."""
    store = app.services.get(MatchingService).store

    def uid(key: int | str) -> int:
        return IDS[key] if isinstance(key, str) else key

    index = await store.next_round_index(GUILD, cohort.cohort_id)
    round_id = await store.create_round(
        guild_id=GUILD, cohort_id=cohort.cohort_id, round_index=index, seed=index,
        group_size=2, week_start=posted_at, slot=None,
        groups=[NewGroup(members=tuple(uid(k) for k in g), score=1.0) for g in groups],
        unmatched=[], now=posted_at,
    )  # fmt: skip
    assert await store.mark_posted(
        GUILD, round_id, now=posted_at, followup_at=posted_at + 3 * DAY, ends_at=posted_at + 7 * DAY
    )
    for record, wanted in zip(await store.groups_of_round(GUILD, round_id), groups, strict=True):
        for key, outcome in wanted.items():
            if outcome is not None:
                assert await store.set_outcome(
                    GUILD, record.group_id, uid(key), outcome, now=posted_at + DAY
                )


async def build_coffee_chats(app: AppContext, cohort: Cohort, other: Cohort) -> None:
    # Three weeks ago: a trio that never met (the first round of "twice without meeting").
    await post_round(
        app, cohort, AS_OF - 21 * DAY,
        [{"No Meeting In": None, "No Meeting Out": None, "Twice At End": None}],
    )  # fmt: skip
    # Last week, one second before this week starts: two groups that met (one by a single
    # uncontradicted "we met").
    await post_round(
        app, cohort, START - SECOND,
        [
            {"Active Before": "met", "Away Expired": "met"},
            {"No Meeting Out": "met", "Drift Out": None},
        ],
    )  # fmt: skip
    # This week, exactly at its start.
    await post_round(
        app, cohort, START,
        [
            {"Active Start": "met", "Answered": None},  # met (nobody contradicted it)
            {"Replier": "no_connect", "One Answer": None},  # couldn't connect / not yet
            {"Unanswered In": "met", "Unanswered Too New": "no_connect"},  # contradicted: not met
            {"No Meeting In": "not_yet", "Reach In": None},  # not yet
        ],
    )  # fmt: skip
    # Posted at the digest's instant: belongs to next week.
    await post_round(app, cohort, AS_OF, [{"Twice At End": None, "Reported In": None}])
    # Another cohort's round this week: never counted here.
    await post_round(app, other, START + DAY, [{OTHER_COHORT_STUDENT: "met", 5001: None}])

    store = app.services.get(MatchingService).store
    for reported, when, cohort_id in (
        ("Reported In", START, cohort.cohort_id),
        ("Reported Out", START - SECOND, cohort.cohort_id),
        ("Reported Out", START + DAY, other.cohort_id),  # the other cohort's report
        ("Reported Out", AS_OF, cohort.cohort_id),  # at the digest's instant: next week
    ):
        await store.add_report(
            guild_id=GUILD, cohort_id=cohort_id, reporter_id=IDS["Answered"],
            reported_id=IDS[reported], group_id=None, channel_id=None, message_id=None,
            rematch=False, avoid=False, now=when,
        )  # fmt: skip


async def test_headline_numbers_are_exact(world: World) -> None:
    built = await world.app.services.get(DigestService).compute(
        GUILD, world.cohort, world.refs, AS_OF
    )
    this, last = built.model.this_week, built.model.last_week
    # Active: everyone except the five quiet ones (and the event at AS_OF is not counted).
    assert this.students == len(NAMES)
    assert this.active == len(NAMES) - 5
    # Last week is [AS_OF - 14 d, START): "Active Before" (START - 1 s), "Drift In" (exactly
    # at its start) and "Drift Out".
    assert last.active == 3
    assert (this.intros, last.intros) == (1, 1)
    # Other cohort's answer not counted; last week: START - 1 s and the two at AS_OF - 14 d.
    assert (this.answers, last.answers) == (4, 3)
    assert (this.replies_substantive, this.replies_short) == (1, 1)
    # START - 1 s, and the two replies at AS_OF - 13 d.
    assert (last.replies_substantive, last.replies_short) == (3, 0)
    assert this.replies_per_answer == pytest.approx(0.5)
    assert (this.kudos, last.kudos) == (1, 1)
    assert (this.celebrations, last.celebrations) == (2, 1)
    assert (this.rough_weeks, last.rough_weeks) == (1, 0)
    assert (this.milestones, last.milestones) == (1, 1)
    assert this.away == 2 and last.away is None  # "Away Expired" came back yesterday
    # Coffee chats, in students: this week's round (posted at START) matched 8 of ours —
    # met: Active Start and Answered; couldn't connect: Replier and Unanswered Too New; not
    # yet: One Answer, Unanswered In (said "met", contradicted), No Meeting In, Reach In.
    # Last week's round (START - 1 s): the four of two groups that met. The round posted at
    # AS_OF and the other cohort's are not counted.
    assert (this.chats_met, this.chats_not_yet, this.chats_failed) == (2, 4, 2)
    assert (last.chats_met, last.chats_not_yet, last.chats_failed) == (4, 0, 0)
    lines = {line.label: line for line in built.model.headline}
    assert lines["Coffee chats met (students)"].value() == "**2** ↓ (last week 4)"
    assert lines["Coffee chats couldn't connect (students)"].value() == "**2** ↑ (last week 0)"
    assert lines["Students away"].value() == "**2** (last week not available)"
    n = len(NAMES)
    assert lines["Students active"].value() == f"**{n - 5} of {n}** ↑ (last week 3 of {n})"
    # Four pulse answers: hidden, not even the count is shown.
    assert built.model.pulse_lines is not None
    assert "Fewer than 5" in built.model.pulse_lines[0]
    assert all("okay" not in line.lower() for line in built.model.pulse_lines)
    await world.app.services.get(CoffeeService).store.pulses.answer(
        GUILD, 1, IDS["DMs Closed"], cohort_id=world.cohort.cohort_id, answer="great"
    )
    built = await world.app.services.get(DigestService).compute(
        GUILD, world.cohort, world.refs, AS_OF
    )
    assert built.model.pulse_lines == [
        "Going well: 1",
        "Okay: 4",
        "Struggling a bit: 0",
        "Really hard: 0",
    ]
    highlights = "\n".join(built.model.highlights)
    assert "Most-replied answer: 1001's — 1 reply" in highlights  # ties: the earliest answer
    assert "New kudos: 1" in highlights and "Milestones reached: 1" in highlights


async def test_needs_attention_rules_are_exact(world: World) -> None:
    built = await world.app.services.get(DigestService).compute(
        GUILD, world.cohort, world.refs, AS_OF
    )
    listed = {row.user_id: row.codes for row in built.model.attention}
    a = IDS
    assert listed == {
        a["Reach In"]: ("reach_out",),
        a["Reported In"]: ("reported",),
        a["Drift In"]: ("drifting",),
        a["New Drift In"]: ("drifting",),
        a["Unanswered In"]: ("unanswered",),
        a["Active Before"]: ("unanswered",),  # its answer at START - 1 s has no reply
        a["DMs Closed"]: ("dm_closed",),
        a["No Meeting In"]: ("no_meeting",),
        a["Intro Missing In"]: ("never_introduced",),
        a["Not Replying In"]: ("not_replying",),
        a["Away Drifting"]: ("away",),
    }
    order = [row.user_id for row in built.model.attention]
    assert order == [
        a["Reach In"],
        a["Reported In"],
        a["Drift In"],  # 14 days idle, then the newcomer (also 14 days): by name
        a["New Drift In"],
        a["Active Before"],  # idle 7 days, before "Unanswered In" (idle 2 days)
        a["Unanswered In"],
        a["DMs Closed"],
        a["No Meeting In"],
        a["Intro Missing In"],
        a["Not Replying In"],
        a["Away Drifting"],
    ]
    rows = {row.user_id: row for row in built.model.attention}
    assert rows[a["Drift In"]].reasons[0][1] == "no activity for 14 days"
    assert rows[a["New Drift In"]].reasons[0][1] == ("no activity since joining 14 days ago")
    assert rows[a["Away Drifting"]].reasons[0][1] == "away until 2026-09-30 (said /away)"
    # Follow-ups carry over: taken now, shown in the next week's digest.
    await world.app.services.get(DigestService).repository.set_follow_up(
        GUILD, world.cohort.cohort_id, a["Drift In"], "contacted", STAFF, now=AS_OF
    )
    later = await world.app.services.get(DigestService).compute(
        GUILD, world.cohort, world.refs, AS_OF + 7 * DAY, name_of=lambda uid: f"lead {uid}"
    )
    row = next(r for r in later.model.attention if r.user_id == a["Drift In"])
    assert row.follow_up is not None and row.follow_up.label() == f"✅ contacted by lead {STAFF}"
    # The CSV round-trips and lists every student once, with the follow-up.
    records = parse_csv(later.csv)
    assert sorted(int(r["user_id"]) for r in records) == sorted(IDS.values())
    drift = next(r for r in records if int(r["user_id"]) == a["Drift In"])
    assert (drift["follow_up"], drift["follow_up_by"]) == ("contacted", f"lead {STAFF}")
    # Matched / met: in a round posted in the 7 days before that (later) digest.
    assert drift["matched"] == "no"
    this_week = {int(r["user_id"]): r for r in parse_csv(built.csv)}
    assert (this_week[a["Active Start"]]["matched"], this_week[a["Active Start"]]["met"]) == (
        "yes",
        "yes",
    )
    assert (this_week[a["Replier"]]["matched"], this_week[a["Replier"]]["met"]) == ("yes", "no")
    assert this_week[a["Reported In"]]["matched"] == "no"  # its round is at AS_OF


async def test_without_matching_the_numbers_are_not_available(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A digest built without the coffee-chats service (its constructor's default).
    monkeypatch.setattr(world.app.services.get(DigestService), "_matching", None)
    built = await world.app.services.get(DigestService).compute(
        GUILD, world.cohort, world.refs, AS_OF
    )
    this = built.model.this_week
    assert this.chats_met is None and this.chats_not_yet is None and this.chats_failed is None
    lines = {line.label: line for line in built.model.headline}
    assert lines["Coffee chats met (students)"].value() == NOT_AVAILABLE
    codes = {code for row in built.model.attention for code in row.codes}
    assert "no_meeting" not in codes and "reported" not in codes
    assert parse_csv(built.csv)[0]["matched"] == NOT_AVAILABLE


async def test_drift_threshold_is_configurable(world: World) -> None:
    from cogs.digest.rules import DigestSettings

    await world.app.services.get(DigestService).save_settings(
        GUILD, world.cohort, DigestSettings(drift_days=20)
    )
    built = await world.app.services.get(DigestService).compute(
        GUILD, world.cohort, world.refs, AS_OF
    )
    codes = {row.user_id: row.codes for row in built.model.attention}
    assert IDS["Drift In"] not in codes and IDS["New Drift In"] not in codes
    assert codes[IDS["Away Drifting"]] == ("away",)  # exactly 20 days


async def test_other_cohort_gets_its_own_numbers(world: World) -> None:
    refs = [StudentRef(OTHER_COHORT_STUDENT, "Evening Student", AS_OF - 30 * DAY)]
    built = await world.app.services.get(DigestService).compute(GUILD, world.other, refs, AS_OF)
    assert built.model.this_week.students == 1 and built.model.this_week.active == 1
    assert built.model.this_week.answers == 1
    assert built.model.this_week.kudos == 1
    # Its round this week: our student met; the partner is not on this roster.
    assert (built.model.this_week.chats_met, built.model.this_week.chats_not_yet) == (1, 0)
    assert [int(r["user_id"]) for r in parse_csv(built.csv)] == [OTHER_COHORT_STUDENT]


async def test_follow_ups_carry_over_then_expire(world: World) -> None:
    a, cohort_id = IDS, world.cohort.cohort_id
    store = world.app.services.get(DigestService).repository
    await store.set_follow_up(GUILD, cohort_id, a["Drift In"], "contacted", STAFF, now=AS_OF)
    await store.set_follow_up(GUILD, cohort_id, a["New Drift In"], "excused", STAFF, now=AS_OF)

    async def follow_ups(days: float) -> dict[int, tuple[str, str, bool]]:
        built = await world.app.services.get(DigestService).compute(
            GUILD, world.cohort, world.refs, AS_OF + timedelta(days=days),
            name_of=lambda uid: f"lead {uid}",
        )  # fmt: skip
        csv = {int(r["user_id"]): r["follow_up"] for r in parse_csv(built.csv)}
        return {
            row.user_id: (csv[row.user_id], row.follow_up.line(), row.is_open)
            for row in built.model.attention
            if row.follow_up is not None
        }

    stamp = f"<t:{int(AS_OF.timestamp())}:R>"
    # 14 days minus a second: both still hold (and the rows have no buttons: not open).
    shown = await follow_ups(14 - 1 / 86400)
    assert shown[a["Drift In"]] == ("contacted", f"✅ contacted by lead {STAFF} ({stamp})", False)
    assert shown[a["New Drift In"]][0::2] == ("excused", False)
    # 14 days: "contacted" has expired — nobody yet, with the earlier state shown.
    shown = await follow_ups(14)
    assert shown[a["Drift In"]] == (
        "",
        f"nobody yet (earlier: ✅ contacted by lead {STAFF} {stamp})",
        True,
    )
    assert shown[a["New Drift In"]][0::2] == ("excused", False)
    # 28 days: "excused" too.
    shown = await follow_ups(28)
    assert shown[a["New Drift In"]][0::2] == ("", True)


async def test_a_failed_read_fails_the_digest_and_stops_the_activity_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The activity read runs beside the other reads: when one of those fails, the digest
    raises that error itself (not wrapped) and the activity read is cancelled, not left
    running with nobody to collect it."""
    digest = world.app.services.get(DigestService)
    activity_started = asyncio.Event()
    activity_cancelled = asyncio.Event()

    async def slow_activity(*args: object) -> object:
        activity_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            activity_cancelled.set()
            raise
        raise AssertionError("unreachable")

    async def broken_away(*args: object) -> object:
        await activity_started.wait()
        raise RuntimeError("the away list could not be read")

    monkeypatch.setattr(digest.repository, "activity", slow_activity)
    monkeypatch.setattr(digest.away, "away_users", broken_away)
    with pytest.raises(RuntimeError, match="away list"):
        await digest.compute(GUILD, world.cohort, world.refs, AS_OF)
    assert activity_cancelled.is_set()
