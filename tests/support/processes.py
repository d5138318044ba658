"""Running the real `cohortbot` process in tests: a clean environment."""

from __future__ import annotations

import os
from pathlib import Path


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "DEV_GUILD", "DATABASE_", "LOG_LEVEL"))
    }
    env["DATABASE_PATH"] = str(tmp_path / "bot.db")
    env.update(extra)
    return env
