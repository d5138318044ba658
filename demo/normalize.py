"""Normalise a demo transcript so two runs can be diffed: ids and times are replaced.

Snowflake ids (17 to 20 digits) become ``#1``, ``#2``… in order of first appearance, so the
structure (which message links to which) survives; Discord timestamps ``<t:UNIX:style>`` and
ISO dates keep only their style. Usage::

    cohortbot demo > before.txt   # on the old commit
    cohortbot demo > after.txt    # on the new one
    python -m demo.normalize before.txt > a.txt && python -m demo.normalize after.txt > b.txt
    diff a.txt b.txt               # empty when behaviour is unchanged
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SNOWFLAKE = re.compile(r"(?<!\d)\d{17,20}(?!\d)")
DISCORD_TIME = re.compile(r"<t:\d+(:[a-zA-Z])?>")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?")
TEMP_PATH = re.compile(r"/tmp/[\w./-]+")


def normalize(text: str) -> str:
    """The transcript with every id numbered by first appearance and every time blanked."""
    seen: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"#{seen.setdefault(match.group(0), len(seen) + 1)}"

    text = DISCORD_TIME.sub(lambda m: f"<t:T{m.group(1) or ''}>", text)
    text = ISO_TIME.sub("TIME", text)
    text = TEMP_PATH.sub("/tmp/PATH", text)
    return SNOWFLAKE.sub(number, text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m demo.normalize TRANSCRIPT", file=sys.stderr)
        return 2
    sys.stdout.write(normalize(Path(args[0]).read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
