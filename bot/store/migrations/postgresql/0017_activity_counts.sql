-- Twin of the SQLite migration of the same name: activity stored as counts, one row per
-- (student, kind, place, second) with how many events it stands for; existing rows folded.
CREATE TABLE activity_new (
    guild_id    BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('message', 'reaction', 'command', 'button')),
    channel_id  BIGINT,
    occurred_at BIGINT NOT NULL,
    events      BIGINT NOT NULL DEFAULT 1 CHECK (events >= 1)
);
INSERT INTO activity_new (guild_id, user_id, kind, channel_id, occurred_at, events)
SELECT guild_id, user_id, kind, channel_id, occurred_at, COUNT(*)
FROM activity
GROUP BY guild_id, user_id, kind, channel_id, occurred_at;
DROP TABLE activity;
ALTER TABLE activity_new RENAME TO activity;
CREATE INDEX activity_by_user ON activity (guild_id, user_id, occurred_at, events);
