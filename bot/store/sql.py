"""SQL text shared by the two store dialects: parameter style and named per-dialect variants.

Repositories write one SQL text with SQLite's ``?`` (or numbered ``?NNN``) placeholders; on
PostgreSQL :func:`to_postgres` turns them into ``$n``, leaving ``?`` inside string literals,
quoted identifiers and comments alone. Where the dialects really differ a repository names both
forms with :class:`Sql` and the engine picks the one for its dialect (``db.dialect``).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DIALECTS",
    "ERASED_PLACEHOLDER",
    "PARAMETERS_PER_STATEMENT",
    "Dialect",
    "Sql",
    "insert_statements",
    "redact_url",
    "to_postgres",
]

Dialect = Literal["sqlite", "postgresql"]
DIALECTS: Final[tuple[Dialect, ...]] = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Sql:
    """One statement in the two dialects, for the few places where they disagree."""

    sqlite: str
    postgresql: str

    def pick(self, dialect: Dialect) -> str:
        return self.sqlite if dialect == "sqlite" else self.postgresql


#: A unique negative id standing for an erased person in a row kept for someone else (the
#: primary key needs a value). SQLite uses the row's rowid; PostgreSQL has none, so a sequence.
ERASED_PLACEHOLDER = Sql(sqlite="-rowid", postgresql="-nextval('erasure_placeholders')")


#: The most parameters one statement binds in :func:`insert_statements`: SQLite's lowest
#: compiled-in limit (999 before 3.32), so no SQLite build refuses a statement.
PARAMETERS_PER_STATEMENT: Final = 999


def insert_statements(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[str, tuple[Any, ...]]]:
    """``rows`` as multi-row ``INSERT INTO table (columns) VALUES (…), (…)`` statements, as
    few as :data:`PARAMETERS_PER_STATEMENT` allows, each with its values in one flat tuple.
    ``table`` and ``columns`` are names written in the code, never input: they go into the
    SQL text. Raises ValueError for a row that has not one value per column (its values
    would shift into the next row's columns)."""
    width = len(columns)
    if width == 0:
        raise ValueError("insert_statements needs at least one column")
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row for {table} has {len(row)} values for {width} columns")
    per_statement = max(1, PARAMETERS_PER_STATEMENT // width)
    return [
        (
            _multi_row_insert(table, tuple(columns), len(chunk)),
            tuple(value for row in chunk for value in row),
        )
        for chunk in (
            rows[start : start + per_statement] for start in range(0, len(rows), per_statement)
        )
    ]


@lru_cache(maxsize=256)
def _multi_row_insert(table: str, columns: tuple[str, ...], count: int) -> str:
    group = f"({', '.join('?' for _ in columns)})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([group] * count)}"


@lru_cache(maxsize=2048)
def to_postgres(sql: str) -> str:
    """``?`` → ``$1, $2 …`` and ``?NNN`` → ``$NNN``, outside literals, identifiers and comments.

    Mixing both styles in one statement is refused (SQLite numbers them differently).
    """
    out: list[str] = []
    i, n = 0, len(sql)
    counter = 0
    numbered = False
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote: still inside
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j == -1 else j
            out.append(sql[i:j])
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j == -1 else j + 2
            out.append(sql[i:j])
            i = j
        elif ch == "?":
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            if j > i + 1:
                numbered = True
                out.append("$" + sql[i + 1 : j])
            else:
                counter += 1
                out.append(f"${counter}")
            i = j
        else:
            out.append(ch)
            i += 1
    if numbered and counter:
        raise ValueError("a statement mixes ? and ?NNN placeholders")
    return "".join(out)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://…"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
