"""One generic row-to-record mapper, instead of a hand-written one per dataclass.

``row_mapper(Record)`` returns a function that builds a ``Record`` (a dataclass) from a row of
either engine (``aiosqlite.Row`` or ``asyncpg.Record``): each field is read from the column of
its name and converted by the field's type, the way the repositories store values:

* ``int``, ``float``, ``str``: the Python type of that name;
* ``bool``: stored as 0/1;
* ``datetime``: an instant, through :func:`bot.store.times.from_db_time`;
* ``date`` and ``time``: ISO text;
* ``X | None`` of any of these: ``None`` stays ``None``;
* anything else (a ``Literal``, JSON text, a derived value): as stored, unless ``convert``
  names a function for the field.

``columns`` names the column of a field whose column is named otherwise (``prompt_id`` read
from ``id``).

:class:`Records` is a table's records for a repository's lookups: ``SELECT … FROM table
WHERE condition``, each row built by the table's mapper. :class:`SettingsTable` is a table of
settings records, one per key (a guild, a cohort), read with their defaults when never saved
and saved whole.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

from bot.store.times import from_db_time, to_db_time

if TYPE_CHECKING:
    from bot.store.db import Database

__all__ = ["Records", "SettingsTable", "row_mapper", "stored"]

_T = TypeVar("_T")

Convert = Callable[[Any], Any]

_BY_TYPE: dict[Any, Convert] = {
    int: int,
    float: float,
    str: str,
    bool: bool,
    datetime: from_db_time,
    date: date.fromisoformat,
    time: time.fromisoformat,
}


def _optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _converter(hint: Any) -> Convert | None:
    """How a field of type ``hint`` is read; None: as stored."""
    if hint in _BY_TYPE:
        return _BY_TYPE[hint]
    args = get_args(hint)
    if get_origin(hint) in (Union, types.UnionType) and type(None) in args:
        inner = [arg for arg in args if arg is not type(None)]
        if len(inner) == 1 and inner[0] in _BY_TYPE:
            return _optional(_BY_TYPE[inner[0]])
    return None


def row_mapper(
    cls: type[_T],
    *,
    columns: Mapping[str, str] | None = None,
    convert: Mapping[str, Convert] | None = None,
) -> Callable[[Any], _T]:
    """A function building ``cls`` from a row (see the module docstring). The fields' types
    are read once, on the first row (so a dataclass may name types defined after it)."""
    renamed = dict(columns or {})
    custom = dict(convert or {})
    unknown = (renamed.keys() | custom.keys()) - {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    plan: list[tuple[str, str, Convert | None]] = []

    def build(row: Any) -> _T:
        if not plan:
            hints = get_type_hints(cls)
            plan.extend(
                (
                    field.name,
                    renamed.get(field.name, field.name),
                    custom.get(field.name, _converter(hints[field.name])),
                )
                for field in dataclasses.fields(cls)  # type: ignore[arg-type]
                if field.init
            )
        values: dict[str, Any] = {}
        for name, column, read in plan:
            value = row[column]
            values[name] = value if read is None else read(value)
        return cls(**values)

    return build


@dataclasses.dataclass(frozen=True)
class Records(Generic[_T]):
    """The records of one table: the ``columns`` of the rows matching a condition, each built
    by ``record``. The condition is SQL after ``WHERE`` (with ``ORDER BY`` or ``LIMIT`` when
    wanted) and ``values`` fill its marks."""

    table: str
    record: Callable[[Any], _T]
    columns: str = "*"

    def _select(self, condition: str) -> str:
        return f"SELECT {self.columns} FROM {self.table} WHERE {condition}"

    async def all(self, db: Database, condition: str, *values: Any) -> list[_T]:
        return await db.fetchall_as(self.record, self._select(condition), values)

    async def one(self, db: Database, condition: str, *values: Any) -> _T | None:
        """The first matching record, or None (add ``LIMIT 1`` where many may match)."""
        return await db.fetchone_as(self.record, self._select(condition), values)


def stored(value: Any) -> Any:
    """A value as the repositories store it: the inverse of :func:`row_mapper`'s reading
    (``bool`` as 0/1, an instant through :func:`bot.store.times.to_db_time`, a date or a time
    as ISO text; anything else as it is)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return to_db_time(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return value


class SettingsTable(Generic[_T]):
    """A table of settings records (a dataclass whose first fields are the ``key`` columns,
    the others having defaults), one row per key: :meth:`get` gives the defaults when the row
    was never saved, :meth:`save` writes every field (and ``extra`` columns such as
    ``updated_at``)."""

    def __init__(self, table: str, record: type[_T], key: tuple[str, ...]) -> None:
        self.record = record
        self.key = key
        self.rows = Records(table, row_mapper(record))

    async def get(self, db: Database, *key: Any) -> _T:
        condition = " AND ".join(f"{column} = ?" for column in self.key)
        found = await self.rows.one(db, condition, *key)
        return self.record(*key) if found is None else found

    async def save(self, db: Database, settings: _T, **extra: Any) -> None:
        values = {
            field.name: stored(getattr(settings, field.name))
            for field in dataclasses.fields(settings)  # type: ignore[arg-type]
        }
        key = {column: values.pop(column) for column in self.key}
        await db.upsert(self.rows.table, key, {**values, **extra})
