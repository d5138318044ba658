-- Alumni mentors: offers, requests and pairs, students waiting, and settings.
-- Instants are microseconds since the Unix epoch (INTEGER; see bot/store/times.py).

-- Server-wide settings: the Alumni role and the weekly cap on requests per mentor.
CREATE TABLE mentor_guild_settings (
    guild_id          INTEGER NOT NULL PRIMARY KEY,
    alumni_role_id    INTEGER,
    requests_per_week INTEGER NOT NULL DEFAULT 3
);

-- Per cohort: may its students find mentors (on unless turned off).
CREATE TABLE mentor_cohort_settings (
    guild_id  INTEGER NOT NULL,
    cohort_id INTEGER NOT NULL,
    enabled   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id)
);

-- A mentor's offer. shown_items: the profile items mentees may see (comma-separated);
-- shown_values: those items' values as JSON, kept so the offer outlives the cohort's retention
-- (the mentor consented to exactly this) until the mentor stops.
CREATE TABLE mentor_offers (
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    cohort_id    INTEGER NOT NULL,
    help_areas   TEXT NOT NULL,
    help_note    TEXT NOT NULL DEFAULT '',
    capacity     INTEGER NOT NULL,
    shown_items  TEXT NOT NULL DEFAULT '',
    shown_values TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL DEFAULT 'active',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- A request from a student to a mentor; an accepted one is a pair (state 'active').
-- state: pending, active, declined, expired, cancelled, ended.
CREATE TABLE mentor_requests (
    request_id  INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    cohort_id   INTEGER NOT NULL,
    student_id  INTEGER,
    mentor_id   INTEGER,
    state       TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT 'ask',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at    INTEGER,
    thread_id   INTEGER
);
CREATE INDEX mentor_requests_by_mentor ON mentor_requests (guild_id, mentor_id, state);
CREATE INDEX mentor_requests_by_student ON mentor_requests (guild_id, student_id, state);
CREATE INDEX mentor_requests_by_expiry ON mentor_requests (state, expires_at);

-- Students of a running cohort who asked for a mentor and have none yet (for rounds).
CREATE TABLE mentor_seekers (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    cohort_id INTEGER NOT NULL,
    asked_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
