-- One representation for time: every column holding an instant becomes an INTEGER of
-- microseconds since the Unix epoch, UTC (see bot/store/times.py). Calendar dates
-- (until_date, start_date, week_start, slot, week_key; but match_rounds.week_start is the
-- instant the round's week starts, and is converted) and local wall-clock times
-- (local_time, quiet_start, quiet_end, batch_time) are not instants and stay ISO text.
--
-- Before: ISO-8601 text ('2026-11-01T05:30:00+00:00', microseconds when not zero) in the
-- older tables, whole epoch seconds in the newer ones. SQLite cannot change a column's type
-- in place, so the tables with text times are rebuilt; integer columns are scaled.
--
-- The text is converted with plain arithmetic (no SQLite date functions): each distinct
-- value is parsed once into time_text_0014, then every rebuilt table looks its values up.
-- A value that is not ISO-8601 date-time text fails the CHECK and the migration rolls back.
CREATE TABLE time_text_0014 (
    text_value  TEXT PRIMARY KEY
                CHECK (length(text_value) >= 19 AND substr(text_value, 5, 1) = '-'
                       AND substr(text_value, 8, 1) = '-' AND substr(text_value, 14, 1) = ':'
                       AND substr(text_value, 17, 1) = ':'),
    year        INTEGER,
    month       INTEGER,
    day         INTEGER,
    seconds     INTEGER,
    zone_length INTEGER,
    offset_secs INTEGER,
    micros      INTEGER,
    days        INTEGER,
    value       INTEGER
);
INSERT INTO time_text_0014 (text_value)
SELECT v FROM (
    SELECT created_at AS v FROM guild_config
    UNION SELECT updated_at AS v FROM guild_config
    UNION SELECT created_at AS v FROM cohorts
    UNION SELECT updated_at AS v FROM text_templates
    UNION SELECT created_at AS v FROM schedules
    UNION SELECT claimed_at AS v FROM schedule_ledger
    UNION SELECT updated_at AS v FROM intro_settings
    UNION SELECT first_posted_at AS v FROM intros
    UNION SELECT posted_at AS v FROM intros
    UNION SELECT updated_at AS v FROM intros
    UNION SELECT arrived_at AS v FROM intro_newcomers
    UNION SELECT left_at AS v FROM intro_newcomers
    UNION SELECT welcomed_at AS v FROM intro_welcomes
    UNION SELECT sent_at AS v FROM intro_reminders
    UNION SELECT updated_at AS v FROM profile_attributes
    UNION SELECT updated_at AS v FROM profile_preferences
    UNION SELECT updated_at AS v FROM match_settings
    UNION SELECT joined_at AS v FROM match_participants
    UNION SELECT left_at AS v FROM match_participants
    UNION SELECT paused_until AS v FROM match_participants
    UNION SELECT stay_asked_at AS v FROM match_participants
    UNION SELECT updated_at AS v FROM match_participants
    UNION SELECT created_at AS v FROM match_avoids
    UNION SELECT created_at AS v FROM match_blocks
    UNION SELECT created_at AS v FROM match_rounds
    UNION SELECT week_start AS v FROM match_rounds
    UNION SELECT posted_at AS v FROM match_rounds
    UNION SELECT followup_at AS v FROM match_rounds
    UNION SELECT ends_at AS v FROM match_rounds
    UNION SELECT ended_at AS v FROM match_rounds
    UNION SELECT delivered_at AS v FROM match_rounds
    UNION SELECT announced_at AS v FROM match_groups
    UNION SELECT outcome_at AS v FROM match_members
    UNION SELECT departed_at AS v FROM match_members
    UNION SELECT created_at AS v FROM match_reports
    UNION SELECT updated_at AS v FROM prompt_settings
    UNION SELECT created_at AS v FROM prompt_bank
    UNION SELECT assigned_at AS v FROM prompt_groups
    UNION SELECT posted_at AS v FROM prompt_posts
    UNION SELECT created_at AS v FROM prompt_answers
    UNION SELECT edited_at AS v FROM prompt_answers
    UNION SELECT removed_at AS v FROM guild_presence
    UNION SELECT closed_at AS v FROM term_closures
    UNION SELECT purged_at AS v FROM term_closures
    UNION SELECT closed_at AS v FROM term_roster
    UNION SELECT applied_at AS v FROM applied_tombstones
    UNION SELECT created_at AS v FROM prompt_replies
) AS texts WHERE v IS NOT NULL;
-- The fields: 'YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM|-HH:MM|Z]' (no zone means UTC). The year
-- is counted from March (January and February belong to the year before), as the day count
-- below expects.
UPDATE time_text_0014 SET
    year = CAST(substr(text_value, 1, 4) AS INTEGER)
        - CASE WHEN CAST(substr(text_value, 6, 2) AS INTEGER) <= 2 THEN 1 ELSE 0 END,
    month = CAST(substr(text_value, 6, 2) AS INTEGER),
    day = CAST(substr(text_value, 9, 2) AS INTEGER),
    seconds = CAST(substr(text_value, 12, 2) AS INTEGER) * 3600
        + CAST(substr(text_value, 15, 2) AS INTEGER) * 60
        + CAST(substr(text_value, 18, 2) AS INTEGER),
    zone_length = CASE
        WHEN length(text_value) >= 25
            AND substr(text_value, length(text_value) - 5, 1) IN ('+', '-') THEN 6
        WHEN substr(text_value, length(text_value), 1) = 'Z' THEN 1
        ELSE 0
    END;
UPDATE time_text_0014 SET
    offset_secs = CASE zone_length
        WHEN 6 THEN (CASE substr(text_value, length(text_value) - 5, 1) WHEN '-' THEN -1 ELSE 1 END)
            * (CAST(substr(text_value, length(text_value) - 4, 2) AS INTEGER) * 3600
               + CAST(substr(text_value, length(text_value) - 1, 2) AS INTEGER) * 60)
        ELSE 0
    END,
    micros = CASE
        WHEN substr(text_value, 20, 1) = '.' THEN CAST(substr(
            substr(text_value, 21, length(text_value) - zone_length - 20) || '000000', 1, 6
        ) AS INTEGER)
        ELSE 0
    END,
    -- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    days = (year / 400) * 146097
        + (year - (year / 400) * 400) * 365
        + (year - (year / 400) * 400) / 4
        - (year - (year / 400) * 400) / 100
        + (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        - 719468;
UPDATE time_text_0014 SET value = (days * 86400 + seconds - offset_secs) * 1000000 + micros;

-- Rebuild every table with a text time column, and the tables that reference them (their
-- foreign keys must follow the renamed parent; dropping a parent they still pointed at would
-- cascade-delete their rows). The new tables reference the new parents; renaming a parent
-- rewrites those references to its final name.
CREATE TABLE guild_config_new (
    guild_id              INTEGER PRIMARY KEY,
    instructor_role_id    INTEGER,
    intro_channel_id      INTEGER,
    discussion_channel_id INTEGER,
    coffee_channel_id     INTEGER,
    leads_channel_id      INTEGER,
    timezone              TEXT NOT NULL DEFAULT 'UTC',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE cohorts_new (
    guild_id        INTEGER NOT NULL REFERENCES guild_config_new(guild_id) ON DELETE CASCADE,
    cohort_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    student_role_id INTEGER NOT NULL,
    lead_role_id    INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (guild_id, name),
    UNIQUE (guild_id, student_role_id)
);

CREATE TABLE text_templates_new (
    guild_id   INTEGER NOT NULL,
    key        TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_by INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, key)
);

CREATE TABLE schedules_new (
    guild_id   INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL DEFAULT 0,
    kind       TEXT NOT NULL,
    weekday    INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    local_time TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, kind)
);

CREATE TABLE schedule_ledger_new (
    guild_id   INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL DEFAULT 0,
    kind       TEXT NOT NULL,
    slot       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('claimed', 'done', 'late', 'skipped', 'failed')),
    claimed_at INTEGER NOT NULL,
    detail     TEXT,
    UNIQUE (guild_id, cohort_id, kind, slot)
);

CREATE TABLE intro_settings_new (
    guild_id            INTEGER PRIMARY KEY,
    introduced_role_id  INTEGER,
    min_message_length  INTEGER NOT NULL DEFAULT 80,
    nudge_after_days    INTEGER NOT NULL DEFAULT 2,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE intros_new (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('modal', 'message')),
    channel_id    INTEGER,
    message_id    INTEGER,
    call_me       TEXT,
    location      TEXT,
    balancing     TEXT,
    hopes         TEXT,
    fun_fact      TEXT,
    first_posted_at INTEGER NOT NULL,
    posted_at     INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE intro_newcomers_new (
    guild_id            INTEGER NOT NULL,
    user_id             INTEGER NOT NULL,
    arrived_at          INTEGER NOT NULL,
    welcome_channel_id  INTEGER,
    welcome_message_id  INTEGER,
    left_at             INTEGER,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE intro_welcomes_new (
    guild_id     INTEGER NOT NULL,
    newcomer_id  INTEGER NOT NULL,
    welcomer_id  INTEGER NOT NULL,
    channel_id   INTEGER,
    message_id   INTEGER,
    welcomed_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, newcomer_id, welcomer_id)
);

CREATE TABLE intro_reminders_new (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('introduce', 'suggestions')),
    sent_at   INTEGER NOT NULL
);

CREATE TABLE profile_attributes_new (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    attribute   TEXT NOT NULL,
    value       TEXT NOT NULL,
    visibility  TEXT NOT NULL DEFAULT 'private'
                CHECK (visibility IN ('private', 'matches', 'classmates')),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, attribute)
);

CREATE TABLE profile_preferences_new (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    attribute   TEXT NOT NULL,
    preference  TEXT NOT NULL CHECK (preference IN ('similar', 'different', 'dont_mind')),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, attribute)
);

CREATE TABLE match_settings_new (
    guild_id       INTEGER NOT NULL,
    cohort_id      INTEGER NOT NULL,
    cadence        TEXT NOT NULL DEFAULT 'weekly' CHECK (cadence IN ('weekly', 'biweekly')),
    group_size     INTEGER NOT NULL DEFAULT 2 CHECK (group_size IN (2, 3)),
    half_life      REAL NOT NULL DEFAULT 6 CHECK (half_life > 0),
    preview_first  INTEGER NOT NULL DEFAULT 0,
    channel_id     INTEGER,  -- where match threads open; NULL = the coffee shop
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id)
);

CREATE TABLE match_participants_new (
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    joined_at       INTEGER NOT NULL,
    left_at         INTEGER,
    paused_until    INTEGER,
    shortfall       REAL NOT NULL DEFAULT 0,
    priority        INTEGER NOT NULL DEFAULT 0,
    ignored_rounds  INTEGER NOT NULL DEFAULT 0,
    stay_asked_at   INTEGER,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE match_avoids_new (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    partner_id  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, partner_id)
);

CREATE TABLE match_blocks_new (
    guild_id    INTEGER NOT NULL,
    student_id  INTEGER NOT NULL,
    partner_id  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, student_id, partner_id),
    CHECK (student_id < partner_id)
);

CREATE TABLE match_rounds_new (
    round_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER NOT NULL,
    cohort_id       INTEGER NOT NULL,
    round_index     INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'posted', 'cancelled', 'ended')),
    seed            INTEGER NOT NULL,
    group_size      INTEGER NOT NULL,
    week_start      INTEGER NOT NULL,
    slot            TEXT,
    created_at      INTEGER NOT NULL,
    posted_at       INTEGER,
    followup_at     INTEGER,
    followup_done   INTEGER NOT NULL DEFAULT 0,
    ends_at         INTEGER,
    ended_at        INTEGER,
    delivered_at    INTEGER,
    fairness_saved  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE match_groups_new (
    group_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL,
    round_id      INTEGER NOT NULL REFERENCES match_rounds_new (round_id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    score         REAL NOT NULL,
    reasons       TEXT NOT NULL DEFAULT '[]',
    rematch       INTEGER NOT NULL DEFAULT 0,
    delivery      TEXT NOT NULL DEFAULT 'pending'
                  CHECK (delivery IN ('pending', 'thread', 'dm', 'failed')),
    thread_id     INTEGER,
    followup_message_id INTEGER,
    archived      INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    announced_at  INTEGER
);

CREATE TABLE match_members_new (
    guild_id      INTEGER NOT NULL,
    group_id      INTEGER NOT NULL REFERENCES match_groups_new (group_id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    outcome       TEXT CHECK (outcome IN ('met', 'not_yet', 'no_connect')),
    outcome_at    INTEGER,
    wants_rematch INTEGER NOT NULL DEFAULT 0,
    dm_failed     INTEGER NOT NULL DEFAULT 0,
    quality       REAL,  -- partner score / own best, for the fairness shortfall
    departed_at   INTEGER,
    chose_priority INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE match_unmatched_new (
    guild_id   INTEGER NOT NULL,
    round_id   INTEGER NOT NULL REFERENCES match_rounds_new (round_id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (round_id, user_id)
);

CREATE TABLE match_reports_new (
    report_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id     INTEGER NOT NULL,
    cohort_id    INTEGER,
    reporter_id  INTEGER,
    reported_id  INTEGER,
    group_id     INTEGER,
    channel_id   INTEGER,
    message_id   INTEGER,
    rematch      INTEGER NOT NULL DEFAULT 0,
    avoid        INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

CREATE TABLE prompt_settings_new (
    guild_id          INTEGER NOT NULL,
    cohort_id         INTEGER NOT NULL,
    channel_id        INTEGER,
    group_threshold   INTEGER NOT NULL DEFAULT 16,
    group_size        INTEGER NOT NULL DEFAULT 12,
    substantive_words INTEGER NOT NULL DEFAULT 15,
    alerts_role_id    INTEGER,
    bank_seeded       INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id)
);

CREATE TABLE prompt_bank_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL,
    text       TEXT NOT NULL,
    theme      TEXT NOT NULL DEFAULT '',
    week       INTEGER,
    follow_ups TEXT NOT NULL DEFAULT '[]',
    source     TEXT NOT NULL DEFAULT 'custom' CHECK (source IN ('default', 'custom', 'import')),
    removed    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE prompt_groups_new (
    guild_id    INTEGER NOT NULL,
    cohort_id   INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    group_no    INTEGER NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, user_id)
);

CREATE TABLE prompt_posts_new (
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
    posted_at   INTEGER NOT NULL,
    left_alone_noted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (guild_id, cohort_id, week_key, sequence, group_no)
);

CREATE TABLE prompt_answers_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    cohort_id   INTEGER NOT NULL,
    post_id     INTEGER NOT NULL REFERENCES prompt_posts_new (id) ON DELETE CASCADE,
    week_key    TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    place_id    INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    by_bot      INTEGER NOT NULL DEFAULT 0,
    words       INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    edited_at   INTEGER,
    UNIQUE (guild_id, post_id, user_id)
);

CREATE TABLE guild_presence_new (
    guild_id   INTEGER PRIMARY KEY,
    removed_at INTEGER
);

CREATE TABLE term_closures_new (
    guild_id  INTEGER NOT NULL,
    cohort_id INTEGER NOT NULL,
    closed_at INTEGER NOT NULL,
    purged_at INTEGER,
    PRIMARY KEY (guild_id, cohort_id, closed_at)
);

CREATE TABLE term_roster_new (
    guild_id  INTEGER NOT NULL,
    cohort_id INTEGER NOT NULL,
    closed_at INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, closed_at, user_id)
);

CREATE TABLE applied_tombstones_new (
    guild_id    INTEGER NOT NULL,
    user_hash   TEXT NOT NULL,
    applied_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_hash)
);

CREATE TABLE prompt_replies_new (
    guild_id    INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    answer_id   INTEGER NOT NULL REFERENCES prompt_answers_new (id),
    user_id     INTEGER NOT NULL,
    words       INTEGER NOT NULL,
    substantive INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, message_id)
);

-- Copy every row; the text times become their microseconds. AUTOINCREMENT tables keep
-- their counters, so an id handed out before is never handed out again.
INSERT INTO guild_config_new (guild_id, instructor_role_id, intro_channel_id,
    discussion_channel_id, coffee_channel_id, leads_channel_id, timezone, created_at, updated_at)
SELECT guild_id, instructor_role_id, intro_channel_id, discussion_channel_id,
    coffee_channel_id, leads_channel_id, timezone,
    (SELECT value FROM time_text_0014 WHERE text_value = created_at),
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM guild_config;

INSERT INTO cohorts_new (guild_id, cohort_id, name, student_role_id, lead_role_id, created_at)
SELECT guild_id, cohort_id, name, student_role_id, lead_role_id,
    (SELECT value FROM time_text_0014 WHERE text_value = created_at)
FROM cohorts;
DELETE FROM sqlite_sequence WHERE name = 'cohorts_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'cohorts_new', seq FROM sqlite_sequence WHERE name = 'cohorts';

INSERT INTO text_templates_new (guild_id, key, body, updated_by, updated_at)
SELECT guild_id, key, body, updated_by,
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM text_templates;

INSERT INTO schedules_new (guild_id, cohort_id, kind, weekday, local_time, timezone, enabled,
    created_at)
SELECT guild_id, cohort_id, kind, weekday, local_time, timezone, enabled,
    (SELECT value FROM time_text_0014 WHERE text_value = created_at)
FROM schedules;

INSERT INTO schedule_ledger_new (guild_id, cohort_id, kind, slot, state, claimed_at, detail)
SELECT guild_id, cohort_id, kind, slot, state,
    (SELECT value FROM time_text_0014 WHERE text_value = claimed_at), detail
FROM schedule_ledger;

INSERT INTO intro_settings_new (guild_id, introduced_role_id, min_message_length,
    nudge_after_days, updated_at)
SELECT guild_id, introduced_role_id, min_message_length, nudge_after_days,
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM intro_settings;

INSERT INTO intros_new (guild_id, user_id, source, channel_id, message_id, call_me, location,
    balancing, hopes, fun_fact, first_posted_at, posted_at, updated_at)
SELECT guild_id, user_id, source, channel_id, message_id, call_me, location, balancing,
    hopes, fun_fact, (SELECT value FROM time_text_0014 WHERE text_value = first_posted_at),
    (SELECT value FROM time_text_0014 WHERE text_value = posted_at),
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM intros;

INSERT INTO intro_newcomers_new (guild_id, user_id, arrived_at, welcome_channel_id,
    welcome_message_id, left_at)
SELECT guild_id, user_id, (SELECT value FROM time_text_0014 WHERE text_value = arrived_at),
    welcome_channel_id, welcome_message_id,
    (SELECT value FROM time_text_0014 WHERE text_value = left_at)
FROM intro_newcomers;

INSERT INTO intro_welcomes_new (guild_id, newcomer_id, welcomer_id, channel_id, message_id,
    welcomed_at)
SELECT guild_id, newcomer_id, welcomer_id, channel_id, message_id,
    (SELECT value FROM time_text_0014 WHERE text_value = welcomed_at)
FROM intro_welcomes;

INSERT INTO intro_reminders_new (guild_id, user_id, kind, sent_at)
SELECT guild_id, user_id, kind,
    (SELECT value FROM time_text_0014 WHERE text_value = sent_at)
FROM intro_reminders;

INSERT INTO profile_attributes_new (guild_id, user_id, attribute, value, visibility,
    updated_at)
SELECT guild_id, user_id, attribute, value, visibility,
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM profile_attributes;

INSERT INTO profile_preferences_new (guild_id, user_id, attribute, preference, updated_at)
SELECT guild_id, user_id, attribute, preference,
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM profile_preferences;

INSERT INTO match_settings_new (guild_id, cohort_id, cadence, group_size, half_life,
    preview_first, channel_id, updated_at)
SELECT guild_id, cohort_id, cadence, group_size, half_life, preview_first, channel_id,
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM match_settings;

INSERT INTO match_participants_new (guild_id, user_id, joined_at, left_at, paused_until,
    shortfall, priority, ignored_rounds, stay_asked_at, updated_at)
SELECT guild_id, user_id, (SELECT value FROM time_text_0014 WHERE text_value = joined_at),
    (SELECT value FROM time_text_0014 WHERE text_value = left_at),
    (SELECT value FROM time_text_0014 WHERE text_value = paused_until), shortfall, priority,
    ignored_rounds, (SELECT value FROM time_text_0014 WHERE text_value = stay_asked_at),
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM match_participants;

INSERT INTO match_avoids_new (guild_id, user_id, partner_id, created_at)
SELECT guild_id, user_id, partner_id,
    (SELECT value FROM time_text_0014 WHERE text_value = created_at)
FROM match_avoids;

INSERT INTO match_blocks_new (guild_id, student_id, partner_id, created_at)
SELECT guild_id, student_id, partner_id,
    (SELECT value FROM time_text_0014 WHERE text_value = created_at)
FROM match_blocks;

INSERT INTO match_rounds_new (round_id, guild_id, cohort_id, round_index, status, seed,
    group_size, week_start, slot, created_at, posted_at, followup_at, followup_done, ends_at,
    ended_at, delivered_at, fairness_saved)
SELECT round_id, guild_id, cohort_id, round_index, status, seed, group_size,
    (SELECT value FROM time_text_0014 WHERE text_value = week_start),
    slot, (SELECT value FROM time_text_0014 WHERE text_value = created_at),
    (SELECT value FROM time_text_0014 WHERE text_value = posted_at),
    (SELECT value FROM time_text_0014 WHERE text_value = followup_at), followup_done,
    (SELECT value FROM time_text_0014 WHERE text_value = ends_at),
    (SELECT value FROM time_text_0014 WHERE text_value = ended_at),
    (SELECT value FROM time_text_0014 WHERE text_value = delivered_at), fairness_saved
FROM match_rounds;
DELETE FROM sqlite_sequence WHERE name = 'match_rounds_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'match_rounds_new', seq FROM sqlite_sequence WHERE name = 'match_rounds';

INSERT INTO match_groups_new (group_id, guild_id, round_id, position, score, reasons, rematch,
    delivery, thread_id, followup_message_id, archived, attempts, last_error, announced_at)
SELECT group_id, guild_id, round_id, position, score, reasons, rematch, delivery, thread_id,
    followup_message_id, archived, attempts, last_error,
    (SELECT value FROM time_text_0014 WHERE text_value = announced_at)
FROM match_groups;
DELETE FROM sqlite_sequence WHERE name = 'match_groups_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'match_groups_new', seq FROM sqlite_sequence WHERE name = 'match_groups';

INSERT INTO match_members_new (guild_id, group_id, user_id, outcome, outcome_at,
    wants_rematch, dm_failed, quality, departed_at, chose_priority)
SELECT guild_id, group_id, user_id, outcome,
    (SELECT value FROM time_text_0014 WHERE text_value = outcome_at), wants_rematch, dm_failed,
    quality, (SELECT value FROM time_text_0014 WHERE text_value = departed_at), chose_priority
FROM match_members;

INSERT INTO match_unmatched_new (guild_id, round_id, user_id, reason)
SELECT guild_id, round_id, user_id, reason
FROM match_unmatched;

INSERT INTO match_reports_new (report_id, guild_id, cohort_id, reporter_id, reported_id,
    group_id, channel_id, message_id, rematch, avoid, created_at)
SELECT report_id, guild_id, cohort_id, reporter_id, reported_id, group_id, channel_id,
    message_id, rematch, avoid, (SELECT value FROM time_text_0014 WHERE text_value = created_at)
FROM match_reports;
DELETE FROM sqlite_sequence WHERE name = 'match_reports_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'match_reports_new', seq FROM sqlite_sequence WHERE name = 'match_reports';

INSERT INTO prompt_settings_new (guild_id, cohort_id, channel_id, group_threshold, group_size,
    substantive_words, alerts_role_id, bank_seeded, updated_at)
SELECT guild_id, cohort_id, channel_id, group_threshold, group_size, substantive_words,
    alerts_role_id, bank_seeded,
    (SELECT value FROM time_text_0014 WHERE text_value = updated_at)
FROM prompt_settings;

INSERT INTO prompt_bank_new (id, guild_id, cohort_id, text, theme, week, follow_ups, source,
    removed, created_at)
SELECT id, guild_id, cohort_id, text, theme, week, follow_ups, source, removed,
    (SELECT value FROM time_text_0014 WHERE text_value = created_at)
FROM prompt_bank;
DELETE FROM sqlite_sequence WHERE name = 'prompt_bank_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'prompt_bank_new', seq FROM sqlite_sequence WHERE name = 'prompt_bank';

INSERT INTO prompt_groups_new (guild_id, cohort_id, user_id, group_no, assigned_at)
SELECT guild_id, cohort_id, user_id, group_no,
    (SELECT value FROM time_text_0014 WHERE text_value = assigned_at)
FROM prompt_groups;

INSERT INTO prompt_posts_new (id, guild_id, cohort_id, week_key, week_number, sequence,
    group_no, prompt_id, channel_id, is_forum, message_id, late, posted_at, left_alone_noted)
SELECT id, guild_id, cohort_id, week_key, week_number, sequence, group_no, prompt_id,
    channel_id, is_forum, message_id, late,
    (SELECT value FROM time_text_0014 WHERE text_value = posted_at), left_alone_noted
FROM prompt_posts;
DELETE FROM sqlite_sequence WHERE name = 'prompt_posts_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'prompt_posts_new', seq FROM sqlite_sequence WHERE name = 'prompt_posts';

INSERT INTO prompt_answers_new (id, guild_id, cohort_id, post_id, week_key, user_id, place_id,
    message_id, by_bot, words, created_at, edited_at)
SELECT id, guild_id, cohort_id, post_id, week_key, user_id, place_id, message_id, by_bot,
    words, (SELECT value FROM time_text_0014 WHERE text_value = created_at),
    (SELECT value FROM time_text_0014 WHERE text_value = edited_at)
FROM prompt_answers;
DELETE FROM sqlite_sequence WHERE name = 'prompt_answers_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'prompt_answers_new', seq FROM sqlite_sequence WHERE name = 'prompt_answers';

INSERT INTO guild_presence_new (guild_id, removed_at)
SELECT guild_id, (SELECT value FROM time_text_0014 WHERE text_value = removed_at)
FROM guild_presence;

INSERT INTO term_closures_new (guild_id, cohort_id, closed_at, purged_at)
SELECT guild_id, cohort_id, (SELECT value FROM time_text_0014 WHERE text_value = closed_at),
    (SELECT value FROM time_text_0014 WHERE text_value = purged_at)
FROM term_closures;

INSERT INTO term_roster_new (guild_id, cohort_id, closed_at, user_id)
SELECT guild_id, cohort_id, (SELECT value FROM time_text_0014 WHERE text_value = closed_at),
    user_id
FROM term_roster;

INSERT INTO applied_tombstones_new (guild_id, user_hash, applied_at)
SELECT guild_id, user_hash, (SELECT value FROM time_text_0014 WHERE text_value = applied_at)
FROM applied_tombstones;

INSERT INTO prompt_replies_new (guild_id, message_id, answer_id, user_id, words, substantive,
    created_at)
SELECT guild_id, message_id, answer_id, user_id, words, substantive,
    (SELECT value FROM time_text_0014 WHERE text_value = created_at)
FROM prompt_replies;

-- The old tables go, children first; no new table references them, so nothing cascades.
DROP TABLE prompt_replies;
DROP TABLE applied_tombstones;
DROP TABLE term_roster;
DROP TABLE term_closures;
DROP TABLE guild_presence;
DROP TABLE prompt_answers;
DROP TABLE prompt_posts;
DROP TABLE prompt_groups;
DROP TABLE prompt_bank;
DROP TABLE prompt_settings;
DROP TABLE match_reports;
DROP TABLE match_unmatched;
DROP TABLE match_members;
DROP TABLE match_groups;
DROP TABLE match_rounds;
DROP TABLE match_blocks;
DROP TABLE match_avoids;
DROP TABLE match_participants;
DROP TABLE match_settings;
DROP TABLE profile_preferences;
DROP TABLE profile_attributes;
DROP TABLE intro_reminders;
DROP TABLE intro_welcomes;
DROP TABLE intro_newcomers;
DROP TABLE intros;
DROP TABLE intro_settings;
DROP TABLE schedule_ledger;
DROP TABLE schedules;
DROP TABLE text_templates;
DROP TABLE cohorts;
DROP TABLE guild_config;

-- The new tables take the old names (renaming rewrites the new children's references).
ALTER TABLE guild_config_new RENAME TO guild_config;
ALTER TABLE cohorts_new RENAME TO cohorts;
ALTER TABLE text_templates_new RENAME TO text_templates;
ALTER TABLE schedules_new RENAME TO schedules;
ALTER TABLE schedule_ledger_new RENAME TO schedule_ledger;
ALTER TABLE intro_settings_new RENAME TO intro_settings;
ALTER TABLE intros_new RENAME TO intros;
ALTER TABLE intro_newcomers_new RENAME TO intro_newcomers;
ALTER TABLE intro_welcomes_new RENAME TO intro_welcomes;
ALTER TABLE intro_reminders_new RENAME TO intro_reminders;
ALTER TABLE profile_attributes_new RENAME TO profile_attributes;
ALTER TABLE profile_preferences_new RENAME TO profile_preferences;
ALTER TABLE match_settings_new RENAME TO match_settings;
ALTER TABLE match_participants_new RENAME TO match_participants;
ALTER TABLE match_avoids_new RENAME TO match_avoids;
ALTER TABLE match_blocks_new RENAME TO match_blocks;
ALTER TABLE match_rounds_new RENAME TO match_rounds;
ALTER TABLE match_groups_new RENAME TO match_groups;
ALTER TABLE match_members_new RENAME TO match_members;
ALTER TABLE match_unmatched_new RENAME TO match_unmatched;
ALTER TABLE match_reports_new RENAME TO match_reports;
ALTER TABLE prompt_settings_new RENAME TO prompt_settings;
ALTER TABLE prompt_bank_new RENAME TO prompt_bank;
ALTER TABLE prompt_groups_new RENAME TO prompt_groups;
ALTER TABLE prompt_posts_new RENAME TO prompt_posts;
ALTER TABLE prompt_answers_new RENAME TO prompt_answers;
ALTER TABLE guild_presence_new RENAME TO guild_presence;
ALTER TABLE term_closures_new RENAME TO term_closures;
ALTER TABLE term_roster_new RENAME TO term_roster;
ALTER TABLE applied_tombstones_new RENAME TO applied_tombstones;
ALTER TABLE prompt_replies_new RENAME TO prompt_replies;

-- The indexes, as they were (a table's UNIQUE and PRIMARY KEY came with its definition).
CREATE INDEX intros_by_message ON intros (guild_id, message_id);
CREATE INDEX intro_newcomers_by_welcome ON intro_newcomers (guild_id, welcome_message_id);
CREATE INDEX intro_newcomers_by_arrival ON intro_newcomers (guild_id, arrived_at);
CREATE INDEX intro_welcomes_by_welcomer ON intro_welcomes (guild_id, welcomer_id);
CREATE INDEX intro_reminders_by_user ON intro_reminders (guild_id, user_id, kind);
CREATE INDEX profile_attributes_findable ON profile_attributes (guild_id, attribute, value)
    WHERE visibility = 'classmates';
CREATE INDEX match_rounds_by_cohort ON match_rounds (guild_id, cohort_id, status, round_index);
CREATE INDEX match_rounds_due ON match_rounds (status, followup_done, followup_at);
CREATE INDEX match_rounds_undelivered ON match_rounds (status, delivered_at);
CREATE INDEX match_groups_by_round ON match_groups (guild_id, round_id, position);
CREATE INDEX match_groups_by_thread ON match_groups (guild_id, thread_id);
CREATE INDEX match_members_by_user ON match_members (guild_id, user_id);
CREATE INDEX match_reports_by_time ON match_reports (guild_id, created_at);
CREATE INDEX prompt_bank_by_cohort ON prompt_bank (guild_id, cohort_id, removed, id);
CREATE INDEX prompt_posts_by_message ON prompt_posts (guild_id, message_id);
CREATE INDEX prompt_answers_by_place ON prompt_answers (guild_id, place_id);
CREATE INDEX prompt_answers_by_message ON prompt_answers (guild_id, message_id);
CREATE INDEX prompt_answers_by_week ON prompt_answers (guild_id, cohort_id, week_key, user_id);
CREATE INDEX prompt_replies_by_answer ON prompt_replies (guild_id, answer_id);
CREATE INDEX prompt_replies_by_user ON prompt_replies (guild_id, user_id);
DROP TABLE time_text_0014;

-- Epoch seconds become microseconds.
UPDATE activity SET occurred_at = occurred_at * 1000000;
UPDATE course_calendars SET closed_at = closed_at * 1000000, updated_at = updated_at * 1000000;
UPDATE outbox SET not_before = not_before * 1000000, expires_at = expires_at * 1000000,
    created_at = created_at * 1000000, claimed_at = claimed_at * 1000000,
    sent_at = sent_at * 1000000;
UPDATE outbox_pauses SET paused_at = paused_at * 1000000;
UPDATE dm_channels SET dm_closed_at = dm_closed_at * 1000000;
UPDATE nudge_optins SET updated_at = updated_at * 1000000;
UPDATE nudge_offers SET offered_at = offered_at * 1000000;
UPDATE nudge_log SET queued_at = queued_at * 1000000;
UPDATE nudge_settings SET updated_at = updated_at * 1000000;
UPDATE away SET started_at = started_at * 1000000;
UPDATE occasion_overrides SET updated_at = updated_at * 1000000;
UPDATE keep_in_touch SET opted_in_at = opted_in_at * 1000000;
UPDATE coffee_settings SET updated_at = updated_at * 1000000;
UPDATE coffee_posts SET created_at = created_at * 1000000;
UPDATE coffee_kudos SET created_at = created_at * 1000000;
UPDATE coffee_milestones SET reached_at = reached_at * 1000000;
UPDATE coffee_pulses SET closes_at = closes_at * 1000000, created_at = created_at * 1000000;
UPDATE coffee_reach_outs SET created_at = created_at * 1000000;
UPDATE coffee_questions_asked SET asked_at = asked_at * 1000000;
UPDATE coffee_circles SET created_at = created_at * 1000000;
UPDATE coffee_circle_members SET joined_at = joined_at * 1000000;
UPDATE digest_settings SET updated_at = updated_at * 1000000;
UPDATE digest_followups SET updated_at = updated_at * 1000000;
UPDATE digest_lead_dms SET updated_at = updated_at * 1000000;
UPDATE coffee_celebration_reactions SET created_at = created_at * 1000000;
