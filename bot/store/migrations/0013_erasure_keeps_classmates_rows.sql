-- Erasing (or deleting the post of) one student never removes another student's rows.
--
-- A classmate's peer reply used to cascade from the answer it replied to, so when the bot
-- deleted an erased student's answer post, its own delete listener removed the answer row
-- and took every classmate's reply with it. The reply now only references its answer (no
-- cascade): an answer with replies is kept without its author instead of being deleted.
-- SQLite can't change a foreign key in place: the table is rebuilt.
CREATE TABLE prompt_replies_new (
    guild_id    INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    answer_id   INTEGER NOT NULL REFERENCES prompt_answers (id),
    user_id     INTEGER NOT NULL,
    words       INTEGER NOT NULL,
    substantive INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, message_id)
);
INSERT INTO prompt_replies_new (guild_id, message_id, answer_id, user_id, words, substantive,
    created_at)
SELECT guild_id, message_id, answer_id, user_id, words, substantive, created_at
FROM prompt_replies;
DROP TABLE prompt_replies;
ALTER TABLE prompt_replies_new RENAME TO prompt_replies;
CREATE INDEX prompt_replies_by_answer ON prompt_replies (guild_id, answer_id);
CREATE INDEX prompt_replies_by_user ON prompt_replies (guild_id, user_id);

-- Where a kudos post went, so erasure can delete or edit it (older rows: the coffee shop).
ALTER TABLE coffee_kudos ADD COLUMN channel_id INTEGER;
UPDATE coffee_kudos SET channel_id = (
    SELECT coffee_channel_id FROM guild_config c WHERE c.guild_id = coffee_kudos.guild_id
) WHERE message_id IS NOT NULL;

