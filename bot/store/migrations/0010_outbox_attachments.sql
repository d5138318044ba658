-- The outbox learns two things: file attachments (the digest's CSV and chart) and a
-- second target type, a forum post (a thread with its starter message), for weekly prompts.

-- What a row creates: 'message' (a message in channel_id or the DM of user_id) or
-- 'forum_post' (a thread in the forum channel_id; the payload holds its name and tags).
ALTER TABLE outbox ADD COLUMN target TEXT NOT NULL DEFAULT 'message'
    CHECK (target IN ('message', 'forum_post'));

-- File bytes of a queued row, in their own table so that reading the queue never loads them.
-- Transient: they are deleted as soon as the row is sent, failed, cancelled or expired.
CREATE TABLE outbox_attachments (
    guild_id    INTEGER NOT NULL,
    outbox_id   INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    filename    TEXT NOT NULL,
    description TEXT,
    data        BLOB NOT NULL,
    PRIMARY KEY (outbox_id, position)
);

CREATE INDEX outbox_attachments_by_guild ON outbox_attachments (guild_id, outbox_id);
