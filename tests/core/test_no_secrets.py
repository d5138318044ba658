"""The repository holds no token-like strings (the tests' fake token is the one exception)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.invite import application_id_from_token
from bot.logging_setup import TOKEN_PATTERN

ROOT = Path(__file__).resolve().parents[2]
#: The fake token used by tests decodes to this obviously-fake id.
FAKE_ID = 123456789012345678


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def test_no_token_like_strings_in_the_repository() -> None:
    found = []
    for path in tracked_files():
        if not path.is_file() or path.suffix in {".db", ".png"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for match in TOKEN_PATTERN.finditer(text):
            if application_id_from_token(match.group(0)) != FAKE_ID:
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)[:12]}…")
    assert not found, "token-like strings found:\n" + "\n".join(found)


def test_the_scanner_would_catch_a_real_looking_token() -> None:
    # Assembled at run time so this file itself holds no token-shaped string.
    real_looking = ".".join(
        ["MTAxMjM0NTY3ODkwMTIzNDU2Nw", "GhIjKl", "abcdefghijklmnopqrstuvwxyz0123456"]
    )
    assert TOKEN_PATTERN.search(real_looking)
    assert application_id_from_token(real_looking) != FAKE_ID
