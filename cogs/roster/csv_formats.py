"""Reading roster files exported by an LMS, and writing CSVs safely. Pure: no discord, no I/O.

Three formats are recognised from the header row:

* Canvas's gradebook export (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
  ``Section``, then one column per assignment; a "Points Possible" row follows the header);
* Moodle's participants export (``First name``, ``Last name``, ``Email address``, ``Groups``,
  optionally ``ID number``);
* a plain CSV (``name``, ``email``, ``student_id``, ``section``: ``data/roster_template.csv``).

Files are decoded as UTF-8 (with or without a BOM) or UTF-16 (with a BOM); anything else is
tried as Windows-1252 / Latin-1, which is what spreadsheet programs write when told "CSV".
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.text import csv_cell

__all__ = [
    "CANVAS",
    "MAX_FILE_BYTES",
    "MOODLE",
    "PLAIN",
    "ParsedFile",
    "ParsedStudent",
    "RejectedRow",
    "RosterFileError",
    "csv_safe",
    "decode",
    "parse",
    "write_csv",
]

#: The largest roster file accepted (10,000 students fit in well under a megabyte).
MAX_FILE_BYTES = 5 * 1024 * 1024
CANVAS, MOODLE, PLAIN = "Canvas", "Moodle", "plain"
#: Cells starting with these are formulas to a spreadsheet (OWASP "CSV injection").
_MAX_FIELD = 200  # names, emails and ids longer than this are not real


class RosterFileError(ValueError):
    """The file cannot be read as a roster; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class ParsedStudent:
    row: int  # the line in the file (1 is the header), for messages
    lms_id: str
    name: str
    email: str
    sections: tuple[str, ...]


@dataclass(frozen=True)
class RejectedRow:
    row: int
    reason: str


@dataclass(frozen=True)
class ParsedFile:
    format: str
    encoding: str
    students: tuple[ParsedStudent, ...]
    rejected: tuple[RejectedRow, ...]


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with, or :class:`RosterFileError`."""
    if len(data) > MAX_FILE_BYTES:
        raise RosterFileError(
            f"The file is {len(data) // 1024} KB; the limit is {MAX_FILE_BYTES // 1024} KB. "
            "Nothing was imported."
        )
    if data.startswith(b"PK\x03\x04"):
        raise RosterFileError(
            "This looks like a spreadsheet workbook (.xlsx), not a CSV. Open it and save it as "
            "“CSV UTF-8”, then import that file. Nothing was imported."
        )
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[len(codecs.BOM_UTF8) :], "utf-8", "UTF-8"), "UTF-8 (with BOM)"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16", "UTF-16"), "UTF-16"
    if b"\x00" in data[:4096]:
        raise RosterFileError(
            "The file looks like UTF-16 without a byte-order mark (or is not a text file). "
            "Export it again choosing “CSV UTF-8” as the format. Nothing was imported."
        )
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252 (Latin-1)"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; ISO-8859-1 maps every byte.
        return data.decode("latin-1"), "ISO-8859-1 (Latin-1)"


def _strict(data: bytes, codec: str, label: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise RosterFileError(
            f"The file says it is {label} but byte {exc.start} is not valid {label}. Export it "
            "again choosing “CSV UTF-8” as the format. Nothing was imported."
        ) from exc


def _key(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).casefold()


def _detect(header: Sequence[str]) -> tuple[str, dict[str, int]]:
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        index.setdefault(_key(name), position)
    if {"student", "id", "section"} <= index.keys():
        return CANVAS, index
    if {"first name", "last name", "email address"} <= index.keys():
        return MOODLE, index
    if "name" in index and ({"email", "student_id"} & index.keys()):
        return PLAIN, index
    raise RosterFileError(
        "I don't recognise this file's header row. I read Canvas gradebook exports "
        "(Student, ID, SIS User ID, SIS Login ID, Section), Moodle participant exports "
        "(First name, Last name, Email address, Groups) and plain CSVs with the columns "
        "name, email, student_id, section (see data/roster_template.csv). Nothing was imported."
    )


def _cell(row: Sequence[str], index: dict[str, int], name: str) -> str:
    position = index.get(name)
    if position is None or position >= len(row):
        return ""
    return " ".join(row[position].split())


def _split_groups(value: str, separator: str) -> tuple[str, ...]:
    parts = (part.strip() for part in re.split(separator, value))
    return tuple(dict.fromkeys(part for part in parts if part))


def _canvas_name(value: str) -> str:
    # Canvas writes "Last, First"; people are greeted by "First Last".
    if value.count(",") == 1:
        last, first = (part.strip() for part in value.split(","))
        if first and last:
            return f"{first} {last}"
    return value


def _student(fmt: str, row: Sequence[str], index: dict[str, int]) -> tuple[str, str, str, str]:
    """(lms_id, name, email, sections) of one data row in the detected format."""
    if fmt == CANVAS:
        login = _cell(row, index, "sis login id")
        email = login if "@" in login else ""
        return (
            _cell(row, index, "id"),
            _canvas_name(_cell(row, index, "student")),
            email,
            _cell(row, index, "section"),
        )
    if fmt == MOODLE:
        email = _cell(row, index, "email address")
        name = f"{_cell(row, index, 'first name')} {_cell(row, index, 'last name')}".strip()
        return (_cell(row, index, "id number") or email, name, email, _cell(row, index, "groups"))
    email = _cell(row, index, "email")
    return (
        _cell(row, index, "student_id") or email,
        _cell(row, index, "name"),
        email,
        _cell(row, index, "section"),
    )


def parse(data: bytes) -> ParsedFile:
    """Decode and read a roster file: the students, and the rows rejected with a reason.

    Raises :class:`RosterFileError` when the file as a whole cannot be used."""
    text, encoding = decode(data)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise RosterFileError(
            f"The file is not a readable CSV ({exc}). Nothing was imported."
        ) from exc
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise RosterFileError("The file is empty. Nothing was imported.")
    fmt, index = _detect(rows[0])
    separator = r",| and " if fmt == CANVAS else r","
    students: list[ParsedStudent] = []
    rejected: list[RejectedRow] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        lms_id, name, email, section = _student(fmt, row, index)
        if fmt == CANVAS and (
            name.casefold().endswith("points possible") or name.casefold() == "test student"
        ):
            continue  # Canvas's own rows, not students
        reason = _problem(lms_id, name, email)
        if reason is None and lms_id.casefold() in seen:
            reason = f"duplicate id {lms_id!r} (first on row {seen[lms_id.casefold()]})"
        if reason is not None:
            rejected.append(RejectedRow(number, reason))
            continue
        seen[lms_id.casefold()] = number
        students.append(
            ParsedStudent(number, lms_id, name, email, _split_groups(section, separator))
        )
    return ParsedFile(fmt, encoding, tuple(students), tuple(rejected))


def _problem(lms_id: str, name: str, email: str) -> str | None:
    if not name:
        return "missing name"
    if not lms_id:
        return "missing student id and email"
    if "\ufffd" in name or "\ufffd" in lms_id:
        return "unreadable characters (bad encoding)"
    if max(len(lms_id), len(name), len(email)) > _MAX_FIELD:
        return f"a field is longer than {_MAX_FIELD} characters"
    if email and "@" not in email:
        return f"email {email[:40]!r} has no @"
    return None


def csv_safe(value: object) -> str:
    """Any value as a CSV cell a spreadsheet shows as text, never runs (:func:`csv_cell`)."""
    return csv_cell("" if value is None else str(value))


def _written(value: object) -> object:
    # A count is written as it is: a whole number >= 0 cannot start a formula.
    if type(value) is int and value >= 0:
        return value
    return csv_safe(value)


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A UTF-8 CSV (with a BOM, so spreadsheet programs read accents) with every cell escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_safe(cell) for cell in header])
    for row in rows:
        writer.writerow([_written(cell) for cell in row])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")
