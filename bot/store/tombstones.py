"""Deletion tombstones, kept in a small file beside the database (not inside it).

Restoring an older backup brings back rows a student had deleted; the tombstone file is not
part of the backup, so on the next start the deletion is applied again. Only a salted hash of
(guild, user) is stored, never the id itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Tombstone:
    guild_id: int
    user_hash: str
    deleted_at: str


class TombstoneFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def beside(database_path: Path) -> TombstoneFile:
        return TombstoneFile(database_path.with_name(database_path.name + ".tombstones"))

    def _read(self) -> tuple[str | None, list[Tombstone]]:
        if not self.path.exists():
            return None, []
        salt: str | None = None
        stones: list[Tombstone] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if "salt" in entry:
                salt = entry["salt"]
            else:
                stones.append(Tombstone(entry["guild_id"], entry["user_hash"], entry["at"]))
        return salt, stones

    def _salt(self) -> str:
        salt, _ = self._read()
        if salt is None:
            salt = secrets.token_hex(16)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"salt": salt}) + "\n")
        return salt

    def hash_user(self, guild_id: int, user_id: int, salt: str | None = None) -> str:
        material = f"{salt or self._salt()}:{guild_id}:{user_id}".encode()
        return hashlib.sha256(material).hexdigest()

    def add(self, guild_id: int, user_id: int, now: datetime) -> str:
        user_hash = self.hash_user(guild_id, user_id)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(
                json.dumps({"guild_id": guild_id, "user_hash": user_hash, "at": now.isoformat()})
                + "\n"
            )
            handle.flush()
            os.fsync(handle.fileno())
        return user_hash

    def tombstones(self) -> list[Tombstone]:
        return self._read()[1]

    def salt(self) -> str | None:
        return self._read()[0]
