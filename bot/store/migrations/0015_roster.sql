-- The course roster imported from the LMS, join codes, wrong-code tries and pending imports.
-- Instants are microseconds since the Unix epoch (INTEGER; see bot/store/times.py).

-- One enrolled (or withdrawn) student per LMS id; user_id is the linked Discord account.
CREATE TABLE roster_students (
    guild_id   INTEGER NOT NULL,
    entry_id   INTEGER PRIMARY KEY,
    lms_id     TEXT NOT NULL,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    section    TEXT NOT NULL DEFAULT '',
    cohort_id  INTEGER,
    status     TEXT NOT NULL DEFAULT 'enrolled' CHECK (status IN ('enrolled', 'withdrawn')),
    user_id    INTEGER,
    linked_at  INTEGER,
    added_at   INTEGER NOT NULL,
    -- set when the cohort's term closes: the row is deleted after the retention period
    closed_at  INTEGER,
    UNIQUE (guild_id, lms_id),
    UNIQUE (guild_id, user_id)
);

CREATE INDEX roster_students_cohort ON roster_students (guild_id, cohort_id);

-- A student's current join code: the selector finds it, the secret is kept as a salted hash.
CREATE TABLE roster_codes (
    guild_id    INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL REFERENCES roster_students(entry_id) ON DELETE CASCADE,
    selector    TEXT NOT NULL,
    salt        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, entry_id),
    UNIQUE (guild_id, selector)
);

-- Wrong join codes, per person per server, for the pause after five in an hour.
CREATE TABLE roster_attempts (
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    attempted_at INTEGER NOT NULL
);

CREATE INDEX roster_attempts_user ON roster_attempts (guild_id, user_id, attempted_at);

-- A previewed import waiting for Apply: exactly the diff shown, with its hash and the hash of
-- the roster it was computed against. Deleted when applied, and after a day.
CREATE TABLE roster_imports (
    guild_id    INTEGER NOT NULL,
    import_id   INTEGER PRIMARY KEY,
    diff_json   TEXT NOT NULL,
    diff_hash   TEXT NOT NULL,
    base_hash   TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
