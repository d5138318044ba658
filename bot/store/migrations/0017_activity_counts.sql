-- Activity is stored as counts: one row per (student, kind, place, second) with how many
-- events it stands for (``events``), instead of one row per event. Every reader sums
-- ``events`` where it counted rows, so every count, window and "last active" is unchanged
-- (a second is the finest time the table ever kept). A busy stream writes far fewer rows.
-- Existing rows are folded into counts. ``activity_by_time`` (no query uses it) is dropped:
-- one index less to maintain per row; ``activity_by_user`` now covers ``events`` so the
-- digest's sums still read only the index.
CREATE TABLE activity_new (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('message', 'reaction', 'command', 'button')),
    channel_id  INTEGER,
    occurred_at INTEGER NOT NULL,
    events      INTEGER NOT NULL DEFAULT 1 CHECK (events >= 1)
);
INSERT INTO activity_new (guild_id, user_id, kind, channel_id, occurred_at, events)
SELECT guild_id, user_id, kind, channel_id, occurred_at, COUNT(*)
FROM activity
GROUP BY guild_id, user_id, kind, channel_id, occurred_at;
DROP TABLE activity;
ALTER TABLE activity_new RENAME TO activity;
CREATE INDEX activity_by_user ON activity (guild_id, user_id, occurred_at, events);
