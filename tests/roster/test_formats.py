"""The pure roster modules: reading the three formats and their encodings, the diff, escaping
and join codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.digest.not_arrived import not_arrived_csv, not_arrived_messages
from cogs.roster.codes import ALPHABET, new_code, split_code, verify
from cogs.roster.csv_formats import (
    CANVAS,
    MAX_FILE_BYTES,
    MOODLE,
    PLAIN,
    RosterFileError,
    csv_safe,
    parse,
    write_csv,
)
from cogs.roster.rules import (
    ENROLLED,
    WITHDRAWN,
    CurrentEntry,
    RosterDiff,
    compute_diff,
    diff_from_json,
    preview_lines,
)

DATA = Path(__file__).parent / "data"
COHORTS = {"cohort 1": 1, "evening section": 2}


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def current_from(parsed_bytes: bytes) -> list[CurrentEntry]:
    diff = compute_diff(parse(parsed_bytes), [], COHORTS)
    return [
        CurrentEntry(e.lms_id, e.name, e.email, e.section, e.cohort_id, ENROLLED) for e in diff.new
    ]


def test_canvas_gradebook_skips_points_possible_and_the_test_student() -> None:
    parsed = parse(sample("canvas_gradebook.csv"))
    assert (parsed.format, parsed.encoding) == (CANVAS, "UTF-8 (with BOM)")
    assert [(s.lms_id, s.name, s.email) for s in parsed.students] == [
        ("40511", "Amara Okafor", "amara.okafor@example.edu"),
        ("40512", "Bao Nguyen", "bao.nguyen@example.edu"),
        ("40513", "Lucía García", "lucia.garcia@example.edu"),
        ("40514", "Jonas Schmidt", "jonas.schmidt@example.edu"),
    ]
    assert parsed.rejected == ()


def test_moodle_utf16_export_with_groups_and_a_missing_name() -> None:
    parsed = parse(sample("moodle_participants_utf16.csv"))
    assert (parsed.format, parsed.encoding) == (MOODLE, "UTF-16")
    names = {s.lms_id: s.name for s in parsed.students}
    assert names["S1005"] == "Zoë Müller"
    assert [(r.row, r.reason) for r in parsed.rejected] == [(6, "missing name")]
    zoe = next(s for s in parsed.students if s.lms_id == "S1005")
    assert zoe.sections == ("Cohort 1", "Evening Section")
    # Two sections that are two cohorts: rejected with the reason, not guessed.
    diff = compute_diff(parsed, [], COHORTS)
    assert any(r.row == 4 and "two sections" in r.reason for r in diff.rejected)
    # One of them a cohort: that one.
    diff = compute_diff(parsed, [], {"cohort 1": 1})
    assert next(e for e in diff.new if e.lms_id == "S1005").cohort_id == 1


def test_plain_latin1_with_a_formula_and_a_duplicate_id() -> None:
    parsed = parse(sample("plain_latin1.csv"))
    assert parsed.format == PLAIN and "1252" in parsed.encoding
    assert [s.name for s in parsed.students][:2] == ["José Álvarez", "Renée Côté"]
    assert parsed.rejected[0].row == 5 and "duplicate id" in parsed.rejected[0].reason
    formula = parsed.students[2].name
    assert formula.startswith("=HYPERLINK")
    out = write_csv(["name"], [[formula]]).decode("utf-8-sig")
    (row,) = list(csv.reader(io.StringIO(out)))[1:]
    assert row == ["'" + formula]


def test_unreadable_files_get_a_clear_message() -> None:
    with pytest.raises(RosterFileError, match="limit is"):
        parse(b"x" * (MAX_FILE_BYTES + 1))
    with pytest.raises(RosterFileError, match="UTF-16 without a byte-order mark"):
        parse("name,email\n".encode("utf-16-le"))
    with pytest.raises(RosterFileError, match="header row"):
        parse(b"\x89PNG\r\n\x1a\n not a csv at all")
    with pytest.raises(RosterFileError, match="save it as “CSV UTF-8”"):
        parse(b"PK\x03\x04 an xlsx workbook")
    with pytest.raises(RosterFileError, match="empty"):
        parse(b"")
    with pytest.raises(RosterFileError, match="is not valid UTF-8"):
        parse(b"\xef\xbb\xbfname,email\n\xff\xfe broken")


def test_reimport_is_empty_and_a_missing_student_is_withdrawn() -> None:
    data = sample("canvas_gradebook.csv")
    current = current_from(data)
    again = compute_diff(parse(data), current, COHORTS)
    assert again.empty and again.unchanged == 4
    assert "Nothing to change" in "\n".join(preview_lines(again, {}))
    fewer = b"\n".join(line for line in data.split(b"\n") if b"40512" not in line)
    diff = compute_diff(parse(fewer), current, COHORTS)
    assert diff.withdrawn == ("40512",) and not diff.new and not diff.changed
    # Back in the file: enrolled again (a change).
    back = [
        CurrentEntry(c.lms_id, c.name, c.email, c.section, c.cohort_id, WITHDRAWN)
        if c.lms_id == "40512"
        else c
        for c in current
    ]
    assert [e.lms_id for e in compute_diff(parse(data), back, COHORTS).changed] == ["40512"]


def test_a_big_file_is_summarised_not_listed() -> None:
    rows = "\n".join(f"Student {i},s{i}@example.edu,ID{i},Cohort 1" for i in range(10_000))
    parsed = parse(f"name,email,student_id,section\n{rows}\n".encode())
    lines = preview_lines(compute_diff(parsed, [], COHORTS), {1: "Cohort 1"})
    assert "**New students: 10000**" in lines
    assert len(lines) < 10
    # Rejected rows still show their first reasons.
    bad = "\n".join(f",s{i}@example.edu,ID{i},Cohort 1" for i in range(200))
    parsed = parse(f"name,email,student_id,section\n{bad}\n".encode())
    lines = preview_lines(compute_diff(parsed, [], COHORTS), {1: "Cohort 1"})
    assert "**Rows rejected: 200**" in lines and "• row 2: missing name" in lines


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda s: s.strip() != "")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(names, st.sampled_from(["Cohort 1", "Evening Section", "Other", ""])), max_size=25
    )
)
def test_any_plain_file_round_trips_and_reimports_to_nothing(
    people: list[tuple[str, str]],
) -> None:
    body = write_csv(
        ["name", "email", "student_id", "section"],
        [(name, "", f"ID{i}", section) for i, (name, section) in enumerate(people)],
    )
    parsed = parse(body)
    for student, (name, _) in zip(parsed.students, people, strict=False):
        # What the bot wrote reads back as the name, escaped or not, whitespace folded.
        assert student.name in (" ".join(name.split()), " ".join(csv_safe(name).split()))
    diff = compute_diff(parsed, [], COHORTS)
    assert diff_from_json(diff.to_json()) == diff
    stored = [
        CurrentEntry(e.lms_id, e.name, e.email, e.section, e.cohort_id, ENROLLED) for e in diff.new
    ]
    assert compute_diff(parsed, stored, COHORTS).empty


@given(st.text(max_size=40))
def test_no_written_cell_starts_a_formula(value: str) -> None:
    assert not csv_safe(value).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_codes_use_the_alphabet_and_are_accepted_with_spaces_and_lower_case() -> None:
    code = new_code()
    assert len(code.selector + code.secret) >= 8
    assert set(code.selector + code.secret) <= set(ALPHABET)
    assert not set("01ILOSZB258UV") & set(ALPHABET)
    typed = " ".join(code.code.lower().replace("-", " "))
    assert split_code(typed) == (code.selector, code.secret)
    assert verify(code.secret, code.salt, code.secret_hash)
    assert not verify(
        code.secret[::-1] if code.secret != code.secret[::-1] else "X" * 8,
        code.salt,
        code.secret_hash,
    )
    assert code.secret not in code.secret_hash
    assert split_code("hello") is None
    # A fresh salt per code: the same secret hashes differently.
    assert new_code().salt != code.salt


def apply_in_memory(current: list[CurrentEntry], diff: RosterDiff) -> list[CurrentEntry]:
    """What the repository's apply does, on plain values."""
    stored = {c.lms_id: c for c in current}
    for e in (*diff.new, *diff.changed):
        stored[e.lms_id] = CurrentEntry(e.lms_id, e.name, e.email, e.section, e.cohort_id, ENROLLED)
    for lms_id in diff.withdrawn:
        old = stored[lms_id]
        stored[lms_id] = CurrentEntry(
            old.lms_id, old.name, old.email, old.section, old.cohort_id, WITHDRAWN
        )
    return list(stored.values())


ids = st.sampled_from([f"ID{i}" for i in range(12)])
people = st.dictionaries(
    ids, st.tuples(st.sampled_from(["Ana", "Bo", "Cy"]), st.sampled_from(["Cohort 1", "X", ""]))
)


@settings(max_examples=80, deadline=None)
@given(people, people)
def test_applying_a_diff_then_importing_the_same_file_changes_nothing(
    before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]
) -> None:
    def file(rows: dict[str, tuple[str, str]]) -> bytes:
        body = [(name, "", lms_id, section) for lms_id, (name, section) in rows.items()]
        return write_csv(["name", "email", "student_id", "section"], body)

    first = compute_diff(parse(file(before)), [], COHORTS)
    current = apply_in_memory([], first)
    diff = compute_diff(parse(file(after)), current, COHORTS)
    # Everyone no longer in the file is withdrawn (never removed); everyone in it is enrolled.
    assert set(diff.withdrawn) == set(before) - set(after)
    assert {e.lms_id for e in diff.new} == set(after) - set(before)
    current = apply_in_memory(current, diff)
    assert {c.lms_id for c in current} == set(before) | set(after)
    assert compute_diff(parse(file(after)), current, COHORTS).empty


def test_the_not_arrived_part_never_goes_to_dm_copies() -> None:
    people = [(f"Student {i}", f"ID{i}") for i in range(300)]
    messages = not_arrived_messages(300, 12, people)
    assert messages and all(m.list_page and m.within_limits() for m in messages)
    assert "Enrolled, not on the server yet: 300 (12 new this week)" in messages[0].embeds[0].title
    written = not_arrived_csv(b"\xef\xbb\xbfname\r\n", [("=cmd|x", "=1+1")])
    assert b"'=cmd|x" in written and b"'=1+1" not in written  # the cell starts with the reason
