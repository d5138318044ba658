-- Foundation schema. Every table carries guild_id and every query filters by it.

CREATE TABLE guild_config (
    guild_id              INTEGER PRIMARY KEY,
    instructor_role_id    INTEGER,
    intro_channel_id      INTEGER,
    discussion_channel_id INTEGER,
    coffee_channel_id     INTEGER,
    leads_channel_id      INTEGER,
    timezone              TEXT NOT NULL DEFAULT 'UTC',
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

-- A cohort (section) is defined by a student role and has its own leads role.
CREATE TABLE cohorts (
    guild_id        INTEGER NOT NULL REFERENCES guild_config(guild_id) ON DELETE CASCADE,
    cohort_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    student_role_id INTEGER NOT NULL,
    lead_role_id    INTEGER,
    created_at      TEXT NOT NULL,
    UNIQUE (guild_id, name),
    UNIQUE (guild_id, student_role_id)
);

-- Per-guild overrides of the student-facing text templates shipped in data/.
CREATE TABLE text_templates (
    guild_id   INTEGER NOT NULL,
    key        TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_by INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, key)
);

-- Recurring schedules on the course calendar (local weekday and time in a zone).
CREATE TABLE schedules (
    guild_id   INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL DEFAULT 0,
    kind       TEXT NOT NULL,
    weekday    INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    local_time TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, kind)
);

-- Every scheduled send claims its slot here first: a slot is posted at most once.
CREATE TABLE schedule_ledger (
    guild_id   INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL DEFAULT 0,
    kind       TEXT NOT NULL,
    slot       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('claimed', 'done', 'late', 'skipped', 'failed')),
    claimed_at TEXT NOT NULL,
    detail     TEXT,
    UNIQUE (guild_id, cohort_id, kind, slot)
);
