"""Weekly discussion prompts: the pure rules (no discord import, no I/O, ``now`` passed in).

* prompt validation (the text must fit a Discord message with its heading and follow-ups);
* the CSV/JSON import: file-level problems raise :class:`ImportFileError`, each bad row is
  reported by its row number and the good rows are kept;
* where a message counts: an *answer* (the first message of a student's own answer post or
  thread), a *peer reply* (another student's message in that place) or *conversation* (the
  answer's author talking in their own thread);
* the substantive word count (≥ 15 words by default);
* stable, balanced discussion groups, rebalanced with few moves when students come and go
  (simple balanced assignment by id; time zones are not used — a group is asynchronous);
* which prompt a week uses: the one tied to that course week, otherwise the next unused one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from bot.text import quote_input

__all__ = [
    "DEFAULT_GROUP_SIZE",
    "DEFAULT_GROUP_THRESHOLD",
    "DEFAULT_SUBSTANTIVE_WORDS",
    "MAX_FOLLOW_UPS",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ROWS",
    "PROMPT_TEXT_LIMIT",
    "BankEntry",
    "ImportFileError",
    "ImportResult",
    "MessageRole",
    "PromptError",
    "PromptSpec",
    "RowError",
    "assign_groups",
    "choose_prompt",
    "classify_message",
    "group_count",
    "is_substantive",
    "parse_follow_ups",
    "parse_import",
    "validate_prompt",
    "word_count",
]

#: The prompt text itself; the post adds a heading, the follow-up stems and the alerts ping,
#: and the whole must stay inside Discord's 2000-character message.
PROMPT_TEXT_LIMIT: Final = 1200
FOLLOW_UP_LIMIT: Final = 150
THEME_LIMIT: Final = 40
MAX_FOLLOW_UPS: Final = 3
MAX_WEEK: Final = 52
MAX_IMPORT_BYTES: Final = 256 * 1024
MAX_IMPORT_ROWS: Final = 200
DEFAULT_SUBSTANTIVE_WORDS: Final = 15
DEFAULT_GROUP_THRESHOLD: Final = 16
DEFAULT_GROUP_SIZE: Final = 12  # the largest group; groups are formed of about 8–12

_WORD = re.compile(r"[^\W_]", re.UNICODE)
_NOT_WORDS = re.compile(r"<[@#][!&]?\d+>|<a?:\w+:\d+>|https?://\S+")


class PromptError(ValueError):
    """A prompt that cannot be used; the message says why in plain words."""


class ImportFileError(ValueError):
    """An import file that cannot be read at all (wrong type, empty, too large…)."""


@dataclass(frozen=True)
class PromptSpec:
    text: str
    theme: str = ""
    week: int | None = None
    follow_ups: tuple[str, ...] = ()


def _clean(text: str | None) -> str:
    return " ".join((text or "").replace("\u200b", "").split()) if text is not None else ""


def _clean_block(text: str | None) -> str:
    # Keep the author's line breaks in the prompt itself; trim each line.
    lines = [line.strip() for line in (text or "").replace("\u200b", "").splitlines()]
    return "\n".join(lines).strip()


def parse_follow_ups(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    """Follow-up stems from a list, or from text with one stem per line (or separated by |)."""
    if raw is None:
        return ()
    items = re.split(r"[\n|]", raw) if isinstance(raw, str) else list(raw)
    return tuple(s for s in (_clean(str(item)) for item in items) if s)


def validate_prompt(
    text: str | None,
    *,
    theme: str | None = None,
    week: int | str | None = None,
    follow_ups: str | Iterable[str] | None = None,
) -> PromptSpec:
    body = _clean_block(text)
    if not body:
        raise PromptError("The prompt text is empty — please write the question.")
    if len(body) > PROMPT_TEXT_LIMIT:
        raise PromptError(
            f"The prompt is {len(body)} characters; the limit is {PROMPT_TEXT_LIMIT} so the post "
            "fits Discord's 2000-character message with its heading and follow-up questions."
        )
    cleaned_theme = _clean(theme)
    if len(cleaned_theme) > THEME_LIMIT:
        raise PromptError(
            f"The theme is {len(cleaned_theme)} characters; the limit is {THEME_LIMIT}."
        )
    week_number: int | None
    if week is None or (isinstance(week, str) and not week.strip()):
        week_number = None
    else:
        try:
            week_number = int(str(week).strip())
        except ValueError:
            raise PromptError(
                f"The week {quote_input(week)} isn't a number; use 1–{MAX_WEEK} or leave it empty."
            ) from None
        if not 1 <= week_number <= MAX_WEEK:
            raise PromptError(f"The week must be 1–{MAX_WEEK}, not {week_number}.")
    stems = parse_follow_ups(follow_ups)
    if len(stems) > MAX_FOLLOW_UPS:
        raise PromptError(f"At most {MAX_FOLLOW_UPS} follow-up questions, not {len(stems)}.")
    for stem in stems:
        if len(stem) > FOLLOW_UP_LIMIT:
            raise PromptError(
                f"A follow-up question is {len(stem)} characters; the limit is {FOLLOW_UP_LIMIT}."
            )
    return PromptSpec(body, cleaned_theme, week_number, stems)


# ---------------------------------------------------------------------- import


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based data row (the CSV header is not a row; JSON items count from 1)
    message: str


@dataclass(frozen=True)
class ImportResult:
    prompts: tuple[PromptSpec, ...]
    errors: tuple[RowError, ...]


def _kind_of(filename: str) -> Literal["csv", "json"] | None:
    lower = filename.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "json"
    return None


def _row_spec(raw: Mapping[str, Any]) -> PromptSpec:
    stems: list[str] = []
    given = raw.get("follow_ups")
    if isinstance(given, list):
        stems.extend(str(s) for s in given)
    elif isinstance(given, str):
        stems.extend(parse_follow_ups(given))
    elif given is not None:
        raise PromptError("follow_ups must be a list of questions.")
    for key in ("follow_up_1", "follow_up_2", "follow_up_3"):
        value = raw.get(key)
        if value is not None and str(value).strip():
            stems.append(str(value))
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise PromptError("text must be a string.")
    week = raw.get("week")
    if isinstance(week, bool) or (week is not None and not isinstance(week, int | str)):
        raise PromptError("week must be a number.")
    theme = raw.get("theme")
    return validate_prompt(
        text, theme=None if theme is None else str(theme), week=week, follow_ups=stems
    )


def parse_import(filename: str, data: bytes) -> ImportResult:
    """Read an instructor's prompt file. Raises :class:`ImportFileError` for the whole file;
    bad rows are returned as :class:`RowError` (the good rows are kept)."""
    kind = _kind_of(filename)
    name = quote_input(filename)
    if kind is None:
        raise ImportFileError(
            f"{name} isn't a CSV or JSON file. Download the template "
            "(prompt_import_template.csv or .json), fill it in and attach it again."
        )
    if not data.strip():
        raise ImportFileError(f"{name} is empty.")
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(
            f"{name} is {len(data) // 1024} KB; the limit is {MAX_IMPORT_BYTES // 1024} KB."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(f"{name} isn't UTF-8 text; save it as UTF-8 and try again.") from None
    rows: list[Mapping[str, Any]]
    if kind == "json":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFileError(
                f"{name} isn't valid JSON (line {exc.lineno}: {exc.msg})."
            ) from None
        except RecursionError:
            # Thousands of nested brackets exhaust the parser's stack: not a prompt file.
            raise ImportFileError(f"{name} is nested too deeply to be a prompt file.") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("prompts"), list):
            parsed = parsed["prompts"]
        if not isinstance(parsed, list):
            raise ImportFileError(
                'The JSON file must be a list of prompts (or {"prompts": [...]}), '
                "like the template."
            )
        rows = [item if isinstance(item, dict) else {"__bad__": item} for item in parsed]
    else:
        reader = csv.DictReader(io.StringIO(text))
        try:  # reading the header can already fail (e.g. a stray carriage return)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
        except csv.Error as exc:
            raise ImportFileError(f"{name} isn't a readable CSV file ({exc}).") from None
        if "text" not in fields:
            raise ImportFileError(
                "The CSV file needs a header row with a “text” column "
                "(text, theme, week, follow_up_1, follow_up_2, follow_up_3), like the template."
            )
        try:
            rows = [
                {(k or "").strip().lower(): v for k, v in row.items() if k is not None}
                for row in reader
            ]
        except csv.Error as exc:
            raise ImportFileError(f"{name} isn't a readable CSV file ({exc}).") from None
    if not rows:
        raise ImportFileError(f"{name} has no prompts in it.")
    if len(rows) > MAX_IMPORT_ROWS:
        raise ImportFileError(
            f"{name} has {len(rows)} prompts; import at most {MAX_IMPORT_ROWS} at a time."
        )
    prompts: list[PromptSpec] = []
    errors: list[RowError] = []
    for number, raw in enumerate(rows, start=1):
        if "__bad__" in raw:
            errors.append(RowError(number, "each prompt must be an object with a “text”."))
            continue
        try:
            prompts.append(_row_spec(raw))
        except PromptError as exc:
            errors.append(RowError(number, str(exc)))
    return ImportResult(tuple(prompts), tuple(errors))


# ---------------------------------------------------------------------- classification

MessageRole = Literal["answer", "peer_reply", "conversation", "ignored"]


def classify_message(
    *, author_id: int, answer_author_id: int | None, is_answer_start: bool
) -> MessageRole:
    """What a student's message in a prompt place is.

    ``answer_author_id`` is the author of the answer whose post/thread the message is in
    (None when the message is not inside an answer's place). ``is_answer_start`` is True for
    the first message of a student's own new answer post, or a top-level message in a text
    discussion channel.
    """
    if answer_author_id is None:
        return "answer" if is_answer_start else "ignored"
    if author_id == answer_author_id:
        return "conversation"
    return "peer_reply"


def word_count(text: str) -> int:
    """Words a reader would count: mentions, custom emoji and links are not words."""
    stripped = _NOT_WORDS.sub(" ", text or "")
    return sum(1 for token in stripped.split() if _WORD.search(token))


def is_substantive(text: str, min_words: int = DEFAULT_SUBSTANTIVE_WORDS) -> bool:
    return word_count(text) >= min_words


# ---------------------------------------------------------------------- groups


def group_count(students: int, *, threshold: int, max_size: int) -> int:
    """1 up to the threshold; above it enough groups that none exceeds ``max_size`` (≥ 2)."""
    if students <= threshold or students <= 1:
        return 1
    return max(2, math.ceil(students / max(1, max_size)))


def assign_groups(
    student_ids: Iterable[int],
    previous: Mapping[int, int],
    *,
    threshold: int = DEFAULT_GROUP_THRESHOLD,
    max_size: int = DEFAULT_GROUP_SIZE,
) -> dict[int, int]:
    """Each student's group (1…k): balanced (sizes differ by at most one), stable (a student
    keeps their group while it exists and is not over-full) and with few moves on changes."""
    students = sorted(set(student_ids))
    k = group_count(len(students), threshold=threshold, max_size=max_size)
    if k == 1:
        return dict.fromkeys(students, 1)
    members: dict[int, list[int]] = {g: [] for g in range(1, k + 1)}
    unplaced: list[int] = []
    for sid in students:
        group = previous.get(sid)
        if group in members:
            members[group].append(sid)
        else:
            unplaced.append(sid)
    cap = math.ceil(len(students) / k)
    for ids in members.values():
        # Over-full groups give up their most recent ids (the original members stay).
        while len(ids) > cap:
            unplaced.append(ids.pop())
    for sid in sorted(unplaced):
        smallest = min(members, key=lambda g: (len(members[g]), g))
        members[smallest].append(sid)
    while True:
        largest = max(members, key=lambda g: (len(members[g]), -g))
        smallest = min(members, key=lambda g: (len(members[g]), g))
        if len(members[largest]) - len(members[smallest]) <= 1:
            break
        members[smallest].append(members[largest].pop())
    return {sid: g for g, ids in members.items() for sid in ids}


# ---------------------------------------------------------------------- prompt choice


@dataclass(frozen=True)
class BankEntry:
    prompt_id: int
    week: int | None
    uses: int = 0  # how many weeks it has been used in this cohort
    last_used: str = ""  # week key of the last use ("" = never)


def choose_prompt(
    bank: Sequence[BankEntry], week_number: int | None, *, exclude: Iterable[int] = ()
) -> int | None:
    """The prompt for course week ``week_number``: one tied to that week (unused first),
    otherwise the next unused prompt tied to no week (bank order), otherwise the least
    recently used untied one. ``exclude``: prompts already posted this week. None for an
    empty bank."""
    skip = set(exclude)
    bank = [e for e in bank if e.prompt_id not in skip]
    if not bank:
        return None
    if week_number is not None:
        tied = [e for e in bank if e.week == week_number]
        if tied:
            return min(tied, key=lambda e: (e.uses, e.prompt_id)).prompt_id
    free = [e for e in bank if e.week is None]
    unused = [e for e in free if e.uses == 0]
    if unused:
        return unused[0].prompt_id
    pool = free or list(bank)
    return min(pool, key=lambda e: (e.last_used, e.uses, e.prompt_id)).prompt_id


@dataclass
class Participation:
    """One student's week, as /prompt mine and the stats table show it."""

    user_id: int
    answered: bool = False
    replies_substantive: int = 0
    replies_short: int = 0
    replies_received: int = 0
    answer_ids: list[int] = field(default_factory=list)

    @property
    def replies_given(self) -> int:
        return self.replies_substantive + self.replies_short
