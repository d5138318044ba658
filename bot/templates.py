"""Student-facing text: shipped defaults from data/templates.json, per-guild overrides in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from bot.store.guilds import TemplateRepository
from bot.text import TemplateSpec, render

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def load_template_specs(folder: Path | None = None) -> dict[str, TemplateSpec]:
    """Every data/templates/*.json file (one per feature), merged; a key may appear once."""
    specs: dict[str, TemplateSpec] = {}
    for source in sorted((folder or DATA_DIR / "templates").glob("*.json")):
        raw = json.loads(source.read_text(encoding="utf-8"))
        for key, entry in raw.items():
            if key in specs:
                raise ValueError(f"template {key!r} is defined twice (again in {source.name})")
            specs[key] = TemplateSpec(
                key=key,
                description=entry["description"],
                placeholders=tuple(entry["placeholders"]),
                default=entry["default"],
            )
    return specs


class Templates:
    """Looks up the text a guild uses for a key, rendered with its placeholders."""

    def __init__(self, specs: Mapping[str, TemplateSpec], repository: TemplateRepository) -> None:
        self.specs = dict(specs)
        self._repository = repository

    def spec(self, key: str) -> TemplateSpec:
        return self.specs[key]

    async def body(self, guild_id: int | None, key: str) -> str:
        if guild_id is not None:
            overrides = await self._repository.overrides(guild_id)
            if key in overrides:
                return overrides[key].body
        return self.specs[key].default

    async def render(self, guild_id: int | None, key: str, **values: str) -> str:
        return render(await self.body(guild_id, key), values)
