-- Weekly discussion prompts: the bank, settings, groups, weekly posts, answers and peer
-- replies (the mid-week nudges go through the nudge engine). Times are ISO-8601 UTC text
-- (to_db_time); week_key is the local Monday of the course week ("2026-09-07"). No message
-- text is stored: only ids and word counts.

-- Per cohort: where prompts go and how discussions are shaped.
CREATE TABLE prompt_settings (
    guild_id          INTEGER NOT NULL,
    cohort_id         INTEGER NOT NULL,
    channel_id        INTEGER,
    group_threshold   INTEGER NOT NULL DEFAULT 16,
    group_size        INTEGER NOT NULL DEFAULT 12,
    substantive_words INTEGER NOT NULL DEFAULT 15,
    alerts_role_id    INTEGER,
    bank_seeded       INTEGER NOT NULL DEFAULT 0,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (guild_id, cohort_id)
);

-- The cohort's prompt bank (seeded from data/prompts.json, then the instructor's own).
CREATE TABLE prompt_bank (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL,
    text       TEXT NOT NULL,
    theme      TEXT NOT NULL DEFAULT '',
    week       INTEGER,
    follow_ups TEXT NOT NULL DEFAULT '[]',
    source     TEXT NOT NULL DEFAULT 'custom' CHECK (source IN ('default', 'custom', 'import')),
    removed    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX prompt_bank_by_cohort ON prompt_bank (guild_id, cohort_id, removed, id);

-- Stable discussion groups (group 1 only while the cohort is small).
CREATE TABLE prompt_groups (
    guild_id    INTEGER NOT NULL,
    cohort_id   INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    group_no    INTEGER NOT NULL,
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, user_id)
);

-- One row per group per prompt of a week (sequence 2 = a confirmed second prompt).
CREATE TABLE prompt_posts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    cohort_id   INTEGER NOT NULL,
    week_key    TEXT NOT NULL,
    week_number INTEGER,
    sequence    INTEGER NOT NULL DEFAULT 1,
    group_no    INTEGER NOT NULL DEFAULT 1,
    prompt_id   INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    is_forum    INTEGER NOT NULL DEFAULT 0,
    message_id  INTEGER,
    late        INTEGER NOT NULL DEFAULT 0,
    posted_at   TEXT NOT NULL,
    left_alone_noted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (guild_id, cohort_id, week_key, sequence, group_no)
);
CREATE INDEX prompt_posts_by_message ON prompt_posts (guild_id, message_id);

-- A student's answer: its own forum post or thread (place_id) where replies go.
CREATE TABLE prompt_answers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    cohort_id   INTEGER NOT NULL,
    post_id     INTEGER NOT NULL REFERENCES prompt_posts (id) ON DELETE CASCADE,
    week_key    TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    place_id    INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    by_bot      INTEGER NOT NULL DEFAULT 0,
    words       INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    edited_at   TEXT,
    UNIQUE (guild_id, post_id, user_id)
);
CREATE INDEX prompt_answers_by_place ON prompt_answers (guild_id, place_id);
CREATE INDEX prompt_answers_by_message ON prompt_answers (guild_id, message_id);
CREATE INDEX prompt_answers_by_week ON prompt_answers (guild_id, cohort_id, week_key, user_id);

-- A message by another student in an answer's place.
CREATE TABLE prompt_replies (
    guild_id    INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    answer_id   INTEGER NOT NULL REFERENCES prompt_answers (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    words       INTEGER NOT NULL,
    substantive INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, message_id)
);
CREATE INDEX prompt_replies_by_answer ON prompt_replies (guild_id, answer_id);
CREATE INDEX prompt_replies_by_user ON prompt_replies (guild_id, user_id);
