from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import (
    CSV_GUARDED,
    QUOTE_LIMIT,
    TemplateSpec,
    TextError,
    chunk_lines,
    clean_user_text,
    csv_cell,
    discord_time,
    is_blank,
    quote_input,
    render,
    shorten,
    validate_template,
)
from cogs.prompts.rules import ImportFileError, parse_import


@given(st.lists(st.text(max_size=300), max_size=40), st.integers(min_value=10, max_value=2000))
def test_chunk_lines_respects_limit_and_loses_nothing(lines: list[str], limit: int) -> None:
    chunks = chunk_lines(lines, limit)
    assert all(len(chunk) <= limit for chunk in chunks)
    # Joining the chunks gives back every character of every line.
    assert "".join(chunks).replace("\n", "") == "".join(lines).replace("\n", "")


@given(st.text(), st.integers(min_value=1, max_value=500))
def test_shorten_never_exceeds_and_marks_the_cut(text: str, limit: int) -> None:
    result = shorten(text, limit)
    assert len(result) <= limit
    if len(text) > limit:
        assert result.endswith("…")
    else:
        assert result == text


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "\u200d \ufeff\n", "\u2800"])
def test_invisible_text_is_blank(text: str) -> None:
    assert is_blank(text)
    with pytest.raises(TextError, match="empty"):
        clean_user_text(text, field="Your intro", limit=100)


def test_over_long_text_names_the_limit() -> None:
    with pytest.raises(TextError, match="limit is 5"):
        clean_user_text("abcdef", field="Name", limit=5)


def test_render_only_replaces_known_placeholders() -> None:
    assert render("Hi {member} from {course}", {"member": "Ana"}) == "Hi Ana from {course}"
    # No attribute access, unlike str.format.
    assert render("{member.__class__}", {"member": "x"}) == "{member.__class__}"


def test_validate_template_rejects_unknown_placeholder() -> None:
    spec = TemplateSpec("welcome", "d", ("member", "course"), "x")
    assert validate_template(spec, " Hi {member} ") == "Hi {member}"
    with pytest.raises(TextError, match=r"\{name\}"):
        validate_template(spec, "Hi {name}")


@given(st.text(max_size=3000))
def test_quoted_input_is_bounded_inert_and_on_one_line(value: str) -> None:
    quoted = quote_input(value)
    inner = quoted[1:-1]
    assert quoted.startswith("“") and quoted.endswith("”")
    # Escapes and zero-width spaces at most triple the kept characters.
    assert len(inner) <= 3 * QUOTE_LIMIT
    assert "@everyone" not in quoted and "@here" not in quoted and "<@" not in quoted
    assert not any(c in quoted for c in "\n\r\u202e\u202d\u2066\u2067\u2068\u200f")


def test_quoted_input_shows_short_values_as_typed() -> None:
    assert quote_input("EST") == "“EST”"
    assert quote_input("Mars/Olympus") == "“Mars/Olympus”"
    assert quote_input("W" * 2500) == "“" + "W" * (QUOTE_LIMIT - 1) + "…”"
    assert quote_input("**bold**") == "“\\*\\*bold\\*\\*”"
    assert quote_input("hi @everyone") == "“hi @\u200beveryone”"


def test_parse_import_refuses_deeply_nested_json_clearly() -> None:
    with pytest.raises(ImportFileError, match="nested too deeply"):
        parse_import("prompts.json", b"[" * 100_000 + b"]" * 100_000)


def test_discord_time_is_the_timestamp_markup_every_reader_sees_in_their_own_zone() -> None:
    instant = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert discord_time(instant) == "<t:1772440200:f>"
    assert discord_time(instant, "R") == "<t:1772440200:R>"


@given(st.text(max_size=20))
def test_a_csv_cell_never_starts_a_formula_and_is_read_back_exactly(text: str) -> None:
    cell = csv_cell(text)
    guarded = text.startswith(CSV_GUARDED)
    assert cell == ("'" + text if guarded else text)
    assert not cell.startswith(CSV_GUARDED[:-1])  # only the guard's own "'" may lead
