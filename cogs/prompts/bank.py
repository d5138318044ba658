"""The prompt bank: the shipped prompts seed each cohort's bank the first time it is used;
instructors add, remove and import their own."""

from __future__ import annotations

from bot.errors import UserFacingError
from cogs.prompts.core import PromptCore
from cogs.prompts.repository import BankPrompt
from cogs.prompts.rules import ImportFileError, PromptError, RowError, parse_import, validate_prompt

__all__ = ["PromptBank"]


class PromptBank(PromptCore):
    """The cohort's prompt bank."""

    # ------------------------------------------------------------------ the bank

    async def bank(self, guild_id: int, cohort_id: int) -> list[BankPrompt]:
        await self.ensure_bank(guild_id, cohort_id)
        return await self.store.prompts(guild_id, cohort_id)

    async def add_prompt(
        self,
        guild_id: int,
        cohort_id: int,
        text: str,
        *,
        theme: str | None,
        week: str | None,
        follow_ups: str | None,
    ) -> BankPrompt:
        try:
            spec = validate_prompt(text, theme=theme, week=week, follow_ups=follow_ups)
        except PromptError as exc:
            raise UserFacingError(f"{exc} Nothing was saved.") from None
        await self.ensure_bank(guild_id, cohort_id)
        (prompt_id,) = await self.store.add_prompts(
            guild_id, cohort_id, [spec], source="custom", now=self.clock.now()
        )
        prompt = await self.store.prompt(guild_id, prompt_id)
        assert prompt is not None
        return prompt

    async def remove_prompt(self, guild_id: int, cohort_id: int, prompt_id: int) -> None:
        await self.ensure_bank(guild_id, cohort_id)
        if not await self.store.remove_prompt(guild_id, cohort_id, prompt_id):
            raise UserFacingError(
                f"There is no prompt #{prompt_id} in this cohort's bank. /course prompt list "
                "shows the numbers."
            )

    async def import_prompts(
        self, guild_id: int, cohort_id: int, filename: str, data: bytes
    ) -> tuple[int, tuple[RowError, ...]]:
        """Add the valid rows; return how many were added and the errors by row."""
        try:
            result = parse_import(filename, data)
        except ImportFileError as exc:
            raise UserFacingError(f"{exc} Nothing was imported.") from None
        await self.ensure_bank(guild_id, cohort_id)
        if result.prompts:
            await self.store.add_prompts(
                guild_id, cohort_id, result.prompts, source="import", now=self.clock.now()
            )
        return len(result.prompts), result.errors
