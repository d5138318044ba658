"""The prompt repository: export, erasure and the queries the digest reads."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store.engine import open_database
from cogs.prompts.repository import PromptRepository
from cogs.prompts.rules import (
    validate_prompt,
)


async def test_store_export_delete_and_digest_queries(store_target: str) -> None:
    db = await open_database(store_target)
    try:
        store = PromptRepository(db)
        now = datetime(2026, 9, 8, 12, tzinfo=UTC)
        (prompt_id,) = await store.add_prompts(
            1, 1, [validate_prompt("Q?")], source="custom", now=now
        )
        post_id = await store.add_post(
            guild_id=1,
            cohort_id=1,
            week_key="2026-09-07",
            week_number=2,
            sequence=1,
            group_no=1,
            prompt_id=prompt_id,
            channel_id=50,
            is_forum=False,
            late=False,
            now=now,
        )
        assert post_id is not None
        assert (
            await store.add_post(
                guild_id=1,
                cohort_id=1,
                week_key="2026-09-07",
                week_number=2,
                sequence=1,
                group_no=1,
                prompt_id=prompt_id,
                channel_id=50,
                is_forum=False,
                late=False,
                now=now,
            )
            is None
        )  # claimed once
        post = await store.post(1, post_id)
        assert post is not None
        answers = {}
        for user, message in ((10, 100), (11, 110), (12, 120)):
            answer = await store.add_answer(
                guild_id=1,
                post=post,
                user_id=user,
                place_id=message,
                message_id=message,
                by_bot=user == 10,
                words=5,
                now=now,
            )
            assert answer is not None
            answers[user] = answer
        await store.save_reply(
            guild_id=1,
            message_id=900,
            answer_id=answers[10].answer_id,
            user_id=11,
            words=20,
            substantive=True,
            now=now,
        )
        await store.save_reply(
            guild_id=1,
            message_id=901,
            answer_id=answers[10].answer_id,
            user_id=12,
            words=2,
            substantive=False,
            now=now,
        )
        rows = {r.user_id: r for r in await store.week_participation(1, 1, "2026-09-07")}
        assert rows[10].replies_received == 2 and rows[11].replies_substantive == 1
        assert rows[12].replies_short == 1
        waiting = await store.answers_without_replies(1, 1, "2026-09-07")
        assert [a.user_id for a in waiting] == [11, 12]
        top = await store.most_replied_answer(1, 1, "2026-09-07")
        assert top is not None and top[0].user_id == 10 and top[1] == 2
        assert await store.posts_about_user(1, 10) == [(50, 100)]
        exported = await store.export_user(1, 10)
        assert len(exported["prompt_answers"]) == 1
        await store.delete_user(1, 10)
        await store.delete_user(1, 11)
        assert await store.export_user(1, 10) == {
            "prompt_groups": [],
            "prompt_answers": [],
            "prompt_replies": [],
        }
        rows = {r.user_id: r for r in await store.week_participation(1, 1, "2026-09-07")}
        # Erased people vanish; user 12's short reply to the anonymised answer still counts.
        assert set(rows) == {12} and rows[12].replies_short == 1
        # Other guilds are untouched by every query.
        assert await store.week_participation(2, 1, "2026-09-07") == []
    finally:
        await db.close()
