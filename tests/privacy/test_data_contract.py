"""Every table is either about people (and exported/erased) or declared free of personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import close_app, open_app
from bot.clock import FakeClock
from bot.settings import Settings
from cogs.privacy.repository import PERSON_COLUMN

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)


async def test_every_table_is_covered_by_the_data_contract(tmp_path: Path) -> None:
    app = await open_app(Settings(database_path=tmp_path / "c.db"), clock=FakeClock(NOW))
    try:
        tables = set(await app.db.table_names())
        personal: set[str] = set()
        declared_free: set[str] = set()
        for repo in app.repositories():
            personal.update(getattr(repo, "personal_tables", ()))
            declared_free.update(getattr(repo, "non_personal_tables", ()))
        for repo in app.personal_data_repositories():
            assert callable(repo.export_user) and callable(repo.delete_user)
        # Re-applying a deletion tombstone finds people by their id columns: every personal
        # table needs one the scan recognises.
        for table in personal:
            columns = [r["name"] for r in await app.db.fetchall(f'PRAGMA table_info("{table}")')]
            assert any(PERSON_COLUMN.search(c) for c in columns), f"{table}: no person column"
        uncovered = tables - personal - declared_free
        assert not uncovered, f"tables with no data-contract owner: {sorted(uncovered)}"
        assert not personal & declared_free
    finally:
        await close_app(app)


async def test_template_editor_is_exported_and_anonymised(tmp_path: Path) -> None:
    app = await open_app(Settings(database_path=tmp_path / "c.db"), clock=FakeClock(NOW))
    try:
        await app.template_overrides.set(1, "welcome", "Hi {member}", updated_by=42, now=NOW)
        await app.template_overrides.set(2, "welcome", "Other guild", updated_by=42, now=NOW)
        exported = await app.template_overrides.export_user(1, 42)
        assert [row["key"] for row in exported["text_templates"]] == ["welcome"]
        await app.template_overrides.delete_user(1, 42)
        assert (await app.template_overrides.export_user(1, 42)) == {"text_templates": []}
        # The course's text stays; the other guild is untouched.
        assert (await app.template_overrides.overrides(1))["welcome"].body == "Hi {member}"
        assert (await app.template_overrides.overrides(1))["welcome"].updated_by is None
        assert (await app.template_overrides.overrides(2))["welcome"].updated_by == 42
    finally:
        await close_app(app)
