-- Course activity (a student's message, reaction, command or button use in a tracked place).
-- Times are Unix seconds (UTC) so weekly aggregates over many rows stay cheap.

CREATE TABLE activity (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('message', 'reaction', 'command', 'button')),
    channel_id  INTEGER,
    occurred_at INTEGER NOT NULL
);

CREATE INDEX activity_by_user ON activity (guild_id, user_id, occurred_at);

CREATE INDEX activity_by_time ON activity (guild_id, occurred_at);
