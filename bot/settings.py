"""Settings are read from the environment (and a .env file) by a function, never at import."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_DATABASE_PATH = Path("data/cohortbot.db")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A missing or invalid setting; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    database_path: Path = DEFAULT_DATABASE_PATH
    #: A ``postgresql://`` URL when the store is PostgreSQL; None for SQLite at database_path.
    #: repr=False: it may hold a password.
    database_url: str | None = field(default=None, repr=False)
    # repr=False keeps the token out of any log line that prints the settings.
    discord_token: str | None = field(default=None, repr=False)
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    #: Where the daily automatic backups go (default: a backups/ folder beside the database).
    backup_dir: Path | None = None
    backup_keep: int = 7
    #: Personal data is purged this many days after a cohort's term is closed.
    retention_days: int = 180
    #: A guild's data is deleted this many days after the bot was removed from it.
    guild_grace_days: int = 30
    #: Garbage-collector thresholds (gen0, gen1, gen2); None keeps CPython's defaults.
    gc_thresholds: tuple[int, int, int] | None = None
    #: Gateway shards: the bot's total (SHARD_COUNT) and the ones this process runs
    #: (SHARD_IDS). Both None: one unsharded connection, as a small bot needs.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    #: Requests per second the outbox may make for the whole bot token (OUTBOX_RATE), shared
    #: by every process of a cluster by shards; None: 45, below Discord's global 50/s.
    outbox_rate: int | None = None
    #: How long another PostgreSQL process waits before settling a row claimed by a process
    #: that died (OUTBOX_LEASE_SECONDS); None: 5 minutes.
    outbox_lease_seconds: int | None = None

    @property
    def database_label(self) -> str:
        """Which setting names the database, and its value without any password."""
        if self.database_url is None:
            return f"DATABASE_PATH ({self.database_path})"
        from bot.store.sql import redact_url

        return f"DATABASE_URL ({redact_url(self.database_url)})"

    @property
    def backups_folder(self) -> Path:
        return self.backup_dir or self.database_path.parent / "backups"

    def require_token(self) -> str:
        if not self.discord_token:
            raise SettingsError(
                "DISCORD_TOKEN",
                "is not set. Put the bot token from the Discord developer portal in .env "
                "(see .env.example).",
            )
        return self.discord_token


def _optional(values: Mapping[str, str | None], name: str) -> str | None:
    raw = values.get(name)
    if raw is None:
        return None
    stripped = raw.strip()
    return stripped or None


def _url(values: Mapping[str, str | None], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = _optional(values, name)
    if raw is None:
        return None
    if not raw.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise SettingsError(name, f"must start with {' or '.join(s + '://' for s in schemes)}")
    return raw.rstrip("/")


def _count(values: Mapping[str, str | None], name: str, *, default: int, minimum: int) -> int:
    raw = _optional(values, name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingsError(name, f"must be a whole number ≥ {minimum}")
    return int(raw)


def _thresholds(values: Mapping[str, str | None], name: str) -> tuple[int, int, int] | None:
    raw = _optional(values, name)
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) != 3 or not all(part.isdigit() for part in parts) or int(parts[0]) < 1:
        raise SettingsError(name, "must be three whole numbers like 700,10,10 (the first ≥ 1)")
    first, second, third = (int(part) for part in parts)
    return first, second, third


def _shards(
    values: Mapping[str, str | None],
) -> tuple[int | None, tuple[int, ...] | None]:
    count_raw = _optional(values, "SHARD_COUNT")
    ids_raw = _optional(values, "SHARD_IDS")
    if count_raw is None:
        if ids_raw is not None:
            raise SettingsError("SHARD_IDS", "needs SHARD_COUNT (the bot's total number of shards)")
        return None, None
    if not count_raw.isdigit() or int(count_raw) < 1:
        raise SettingsError("SHARD_COUNT", "must be a whole number ≥ 1")
    count = int(count_raw)
    if ids_raw is None:
        return count, tuple(range(count))
    parts = [part.strip() for part in ids_raw.split(",")]
    if not all(part.isdigit() for part in parts):
        raise SettingsError("SHARD_IDS", "must be shard numbers separated by commas, like 0,1")
    ids = tuple(int(part) for part in parts)
    outside = sorted({shard for shard in ids if shard >= count})
    if outside:
        raise SettingsError(
            "SHARD_IDS",
            f"{', '.join(map(str, outside))} outside SHARD_COUNT={count} "
            f"(shards are 0 to {count - 1})",
        )
    if len(set(ids)) != len(ids):
        raise SettingsError("SHARD_IDS", "lists a shard twice")
    return count, tuple(sorted(ids))


def _database(values: Mapping[str, str | None]) -> tuple[Path, str | None]:
    """DATABASE_URL (``sqlite:///path`` or ``postgresql://…``) or the older DATABASE_PATH.

    ``sqlite:///data/x.db`` is relative to the working folder, ``sqlite:////srv/x.db``
    absolute (the usual URL convention)."""
    url = _optional(values, "DATABASE_URL")
    db_raw = _optional(values, "DATABASE_PATH")
    if url is not None and db_raw is not None:
        raise SettingsError("DATABASE_URL", "set either DATABASE_URL or DATABASE_PATH, not both")
    database_url: str | None = None
    if url is None:
        database_path = Path(db_raw) if db_raw else DEFAULT_DATABASE_PATH
        variable = "DATABASE_PATH"
    elif url.startswith("sqlite:///"):
        rest = url.removeprefix("sqlite:///")
        if not rest:
            raise SettingsError("DATABASE_URL", "sqlite:/// needs a file path after it")
        database_path, variable = Path(rest), "DATABASE_URL"
    elif url.startswith(("postgresql://", "postgres://")):
        # Files that live beside the database (tombstones, backups folder) go to data/.
        return DEFAULT_DATABASE_PATH, url
    else:
        raise SettingsError(
            "DATABASE_URL", "must start with sqlite:/// (a file) or postgresql:// (a server)"
        )
    if database_path.exists() and database_path.is_dir():
        raise SettingsError(variable, f"{database_path} is a directory, not a file")
    return database_path, database_url


def parse_settings(values: Mapping[str, str | None]) -> Settings:
    """Build Settings from a mapping of environment-style variables."""
    token = _optional(values, "DISCORD_TOKEN")
    if token is not None and any(ch.isspace() for ch in token):
        raise SettingsError("DISCORD_TOKEN", "must not contain spaces")

    guild_raw = _optional(values, "DEV_GUILD_ID")
    dev_guild_id: int | None = None
    if guild_raw is not None:
        if not guild_raw.isdigit() or int(guild_raw) <= 0:
            raise SettingsError("DEV_GUILD_ID", "must be a numeric guild (server) id")
        dev_guild_id = int(guild_raw)

    level = (_optional(values, "LOG_LEVEL") or "INFO").upper()
    if level not in LOG_LEVELS:
        raise SettingsError("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")

    database_path, database_url = _database(values)

    backup_raw = _optional(values, "BACKUP_DIR")
    backup_keep = _count(values, "BACKUP_KEEP", default=7, minimum=0)
    retention_days = _count(values, "RETENTION_DAYS", default=180, minimum=1)
    guild_grace_days = _count(values, "GUILD_GRACE_DAYS", default=30, minimum=0)
    gc_thresholds = _thresholds(values, "COHORTBOT_GC_THRESHOLDS")
    shard_count, shard_ids = _shards(values)
    outbox_rate = _count(values, "OUTBOX_RATE", default=0, minimum=1) or None
    outbox_lease = _count(values, "OUTBOX_LEASE_SECONDS", default=0, minimum=1) or None

    api_base = _url(values, "DISCORD_API_BASE", ("http", "https"))
    gateway = _url(values, "DISCORD_GATEWAY_URL", ("ws", "wss"))
    if (api_base is None) != (gateway is None):
        missing = "DISCORD_GATEWAY_URL" if gateway is None else "DISCORD_API_BASE"
        raise SettingsError(missing, "must be set together with the other Discord override")

    return Settings(
        database_path=database_path,
        database_url=database_url,
        discord_token=token,
        discord_api_base=api_base,
        discord_gateway_url=gateway,
        dev_guild_id=dev_guild_id,
        log_level=level,
        backup_dir=Path(backup_raw) if backup_raw else None,
        backup_keep=backup_keep,
        retention_days=retention_days,
        guild_grace_days=guild_grace_days,
        gc_thresholds=gc_thresholds,
        shard_count=shard_count,
        shard_ids=shard_ids,
        outbox_rate=outbox_rate,
        outbox_lease_seconds=outbox_lease,
    )


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read .env (if present) under the process environment, which wins."""
    values: dict[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update(dotenv_values(env_file))
    values.update(os.environ)
    return parse_settings(values)


def log_level_number(settings: Settings) -> int:
    return int(logging.getLevelName(settings.log_level))
