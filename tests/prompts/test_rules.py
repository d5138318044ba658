"""The pure rules of weekly discussion prompts (cogs/prompts/rules.py) and the shipped bank."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.templates import DATA_DIR
from cogs.prompts.rules import (
    MAX_IMPORT_BYTES,
    PROMPT_TEXT_LIMIT,
    BankEntry,
    ImportFileError,
    PromptError,
    assign_groups,
    choose_prompt,
    classify_message,
    group_count,
    is_substantive,
    parse_import,
    validate_prompt,
    word_count,
)
from cogs.prompts.service import load_default_bank

# ---------------------------------------------------------------------- the bank


def test_default_bank_has_24_valid_prompts_with_themes_and_follow_ups() -> None:
    bank = load_default_bank()
    assert len(bank) >= 24
    assert len({p.text for p in bank}) == len(bank)
    for prompt in bank:
        assert prompt.theme
        assert 2 <= len(prompt.follow_ups) <= 3
    themes = Counter(p.theme for p in bank)
    for theme in ("reflection", "applying the material", "learning strategies", "peer experience"):
        assert themes[theme] >= 3, theme


def test_import_templates_parse_cleanly() -> None:
    for name in ("prompt_import_template.csv", "prompt_import_template.json"):
        result = parse_import(name, (DATA_DIR / name).read_bytes())
        assert result.errors == ()
        assert len(result.prompts) == 2
        assert result.prompts[0].week == 3 and len(result.prompts[0].follow_ups) == 2


def test_prompt_over_the_limit_states_the_limit() -> None:
    with pytest.raises(PromptError, match=f"the limit is {PROMPT_TEXT_LIMIT}"):
        validate_prompt("x" * (PROMPT_TEXT_LIMIT + 1))
    with pytest.raises(PromptError, match="empty"):
        validate_prompt("\u200b  ")
    with pytest.raises(PromptError, match="1–52"):
        validate_prompt("Fine?", week=60)
    with pytest.raises(PromptError, match="At most 3"):
        validate_prompt("Fine?", follow_ups="a\nb\nc\nd")
    assert validate_prompt("Fine?", week="4", follow_ups="a | b").follow_ups == ("a", "b")


# ---------------------------------------------------------------------- import


def test_import_reports_bad_rows_by_number_and_keeps_good_ones() -> None:
    data = (
        "text,theme,week,follow_up_1\n"
        "Good question?,reflection,2,What made you…?\n"
        ",reflection,,\n"
        "Another?,,ninety,\n"
        "Third good?,,,\n"
    ).encode()
    result = parse_import("bank.csv", data)
    assert [p.text for p in result.prompts] == ["Good question?", "Third good?"]
    assert [(e.row, e.message.split()[0]) for e in result.errors] == [(2, "The"), (3, "The")]
    assert "empty" in result.errors[0].message
    assert "isn't a number" in result.errors[1].message


def test_import_json_rows() -> None:
    data = json.dumps([{"text": "Q?", "follow_ups": ["a", "b"]}, 5, {"text": "x" * 2000}])
    result = parse_import("bank.json", data.encode())
    assert len(result.prompts) == 1
    assert [e.row for e in result.errors] == [2, 3]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bank.txt", b"text\nQ?", "isn't a CSV or JSON"),
        ("bank.csv", b"   \n", "is empty"),
        ("bank.csv", b"x" * (MAX_IMPORT_BYTES + 1), "the limit is"),
        ("bank.json", b"{nope", "isn't valid JSON"),
        ("bank.csv", b"question,week\nQ?,1\n", "header row"),
        ("bank.csv", b"\xff\xfe\x00", "UTF-8"),
        ("bank.json", b"[]", "no prompts"),
    ],
)
def test_unusable_import_files(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        parse_import(name, data)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["a.csv", "a.json"]))
def test_import_never_crashes_on_garbage(data: bytes, name: str) -> None:
    try:
        result = parse_import(name, data)
    except ImportFileError:
        return
    assert len(result.prompts) + len(result.errors) >= 1


# ---------------------------------------------------------------------- classification


def test_classification() -> None:
    assert classify_message(author_id=1, answer_author_id=None, is_answer_start=True) == "answer"
    assert classify_message(author_id=1, answer_author_id=None, is_answer_start=False) == "ignored"
    assert classify_message(author_id=1, answer_author_id=1, is_answer_start=False) == (
        "conversation"
    )
    assert classify_message(author_id=2, answer_author_id=1, is_answer_start=False) == (
        "peer_reply"
    )


def test_word_count_ignores_mentions_links_and_emoji() -> None:
    assert word_count("I really like this — <@123> https://x.y/z <:wave:42> 👍 !!") == 4
    assert word_count("") == 0
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    assert not is_substantive(text)
    assert is_substantive(text + " fifteen")
    assert is_substantive("a b c", 3)


# ---------------------------------------------------------------------- groups


def sizes(assignment: dict[int, int]) -> list[int]:
    return sorted(Counter(assignment.values()).values())


def test_small_cohort_is_one_group_and_big_ones_split_into_8_to_12() -> None:
    assert set(assign_groups(range(16), {}).values()) == {1}
    for n in (17, 25, 31, 36, 37, 50, 120):
        counts = sizes(assign_groups(range(n), {}))
        assert len(counts) == group_count(n, threshold=16, max_size=12) >= 2
        assert counts[-1] - counts[0] <= 1
        assert counts[0] >= 8 and counts[-1] <= 12, (n, counts)


@settings(max_examples=100, deadline=None)
@given(
    st.sets(st.integers(1, 400), min_size=0, max_size=80),
    st.sets(st.integers(1, 400), max_size=10),
    st.sets(st.integers(401, 500), max_size=10),
    st.integers(2, 30),
    st.integers(4, 16),
)
def test_groups_are_balanced_stable_and_move_few(
    before: set[int], leaving: set[int], joining: set[int], threshold: int, max_size: int
) -> None:
    first = assign_groups(before, {}, threshold=threshold, max_size=max_size)
    assert set(first) == before
    assert (
        not first
        or max(Counter(first.values()).values()) - min(Counter(first.values()).values()) <= 1
    )
    # Same students again: nobody moves.
    assert assign_groups(before, first, threshold=threshold, max_size=max_size) == first
    after = (before - leaving) | joining
    second = assign_groups(after, first, threshold=threshold, max_size=max_size)
    assert set(second) == after
    counts = Counter(second.values())
    assert not counts or max(counts.values()) - min(counts.values()) <= 1
    assert set(counts) == set(range(1, len(counts) + 1))
    same_k = group_count(len(before), threshold=threshold, max_size=max_size) == group_count(
        len(after), threshold=threshold, max_size=max_size
    )
    if same_k:
        moved = sum(1 for s in before & after if first[s] != second[s])
        # Only enough stayers move to rebalance what the leavers unbalanced.
        assert moved <= len(before - after)


def test_a_join_moves_nobody_else() -> None:
    first = assign_groups(range(1, 21), {}, threshold=16, max_size=12)
    second = assign_groups([*range(1, 21), 99], first, threshold=16, max_size=12)
    assert all(second[s] == first[s] for s in first)


# ---------------------------------------------------------------------- which prompt


def test_prompt_tied_to_the_week_wins_then_next_unused() -> None:
    bank = [BankEntry(1, None), BankEntry(2, 3), BankEntry(3, None, uses=1, last_used="a")]
    assert choose_prompt(bank, 3) == 2
    assert choose_prompt(bank, 4) == 1
    assert choose_prompt(bank, None) == 1
    used = [BankEntry(1, None, 2, "2026-09-14"), BankEntry(3, None, 1, "2026-09-07")]
    assert choose_prompt(used, 5) == 3  # least recently used when all were used
    assert choose_prompt([], 1) is None
