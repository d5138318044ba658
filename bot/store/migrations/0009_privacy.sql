-- Privacy and operations: guild presence (for the removal grace period), closed terms (for
-- retention), and which deletion tombstones this database has already applied.

CREATE TABLE guild_presence (
    guild_id   INTEGER PRIMARY KEY,
    removed_at TEXT
);

CREATE TABLE term_closures (
    guild_id  INTEGER NOT NULL,
    cohort_id INTEGER NOT NULL,
    closed_at TEXT NOT NULL,
    purged_at TEXT,
    PRIMARY KEY (guild_id, cohort_id, closed_at)
);

-- Who was in the cohort when its term closed: the people whose data retention purges.
CREATE TABLE term_roster (
    guild_id  INTEGER NOT NULL,
    cohort_id INTEGER NOT NULL,
    closed_at TEXT NOT NULL,
    user_id   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, closed_at, user_id)
);

-- A tombstone's salted hash once applied here; a restored older backup lacks the newer ones.
CREATE TABLE applied_tombstones (
    guild_id    INTEGER NOT NULL,
    user_hash   TEXT NOT NULL,
    applied_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_hash)
);
