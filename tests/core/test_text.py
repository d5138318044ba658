import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import (
    TemplateSpec,
    TextError,
    chunk_lines,
    clean_user_text,
    is_blank,
    render,
    shorten,
    validate_template,
)


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
