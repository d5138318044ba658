-- Peer matching: coffee-chat rounds. Times are ISO-8601 UTC text (to_db_time).

-- Per-cohort settings (no personal data). The day and time of scheduled rounds live in the
-- schedules table (kind 'match_round') — cadence decides which course weeks run.
CREATE TABLE match_settings (
    guild_id       INTEGER NOT NULL,
    cohort_id      INTEGER NOT NULL,
    cadence        TEXT NOT NULL DEFAULT 'weekly' CHECK (cadence IN ('weekly', 'biweekly')),
    group_size     INTEGER NOT NULL DEFAULT 2 CHECK (group_size IN (2, 3)),
    half_life      REAL NOT NULL DEFAULT 6 CHECK (half_life > 0),
    preview_first  INTEGER NOT NULL DEFAULT 0,
    channel_id     INTEGER,  -- where match threads open; NULL = the coffee shop
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (guild_id, cohort_id)
);

-- Who takes part. /match join consents to match-related DMs — left_at set = not taking part.
-- Fairness state survives between rounds: shortfall (accumulated "bad partner"), priority
-- (unmatched or could not connect last time) and how many rounds in a row were ignored.
CREATE TABLE match_participants (
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    joined_at       TEXT NOT NULL,
    left_at         TEXT,
    paused_until    TEXT,
    shortfall       REAL NOT NULL DEFAULT 0,
    priority        INTEGER NOT NULL DEFAULT 0,
    ignored_rounds  INTEGER NOT NULL DEFAULT 0,
    stay_asked_at   TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- A student's private "never match me with them" (nobody is told).
CREATE TABLE match_avoids (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    partner_id  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id, partner_id)
);

-- Instructor blocks: the pair is stored with student_id < partner_id.
CREATE TABLE match_blocks (
    guild_id    INTEGER NOT NULL,
    student_id  INTEGER NOT NULL,
    partner_id  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, student_id, partner_id),
    CHECK (student_id < partner_id)
);

-- A round: 'proposed' (a saved, editable proposal), 'posted', 'cancelled' or 'ended'
-- (its threads archived). round_index counts posted rounds of the cohort (repeat penalty).
CREATE TABLE match_rounds (
    round_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER NOT NULL,
    cohort_id       INTEGER NOT NULL,
    round_index     INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'posted', 'cancelled', 'ended')),
    seed            INTEGER NOT NULL,
    group_size      INTEGER NOT NULL,
    week_start      TEXT NOT NULL,
    slot            TEXT,
    created_at      TEXT NOT NULL,
    posted_at       TEXT,
    followup_at     TEXT,
    followup_done   INTEGER NOT NULL DEFAULT 0,
    ends_at         TEXT,
    ended_at        TEXT
);

CREATE INDEX match_rounds_by_cohort ON match_rounds (guild_id, cohort_id, status, round_index);
CREATE INDEX match_rounds_due ON match_rounds (status, followup_done, followup_at);

-- Groups of a round (a proposal's groups are edited in place until posted). reasons is a
-- JSON list of the matcher's reason codes — delivery says where the group was told.
CREATE TABLE match_groups (
    group_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL,
    round_id      INTEGER NOT NULL REFERENCES match_rounds (round_id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    score         REAL NOT NULL,
    reasons       TEXT NOT NULL DEFAULT '[]',
    rematch       INTEGER NOT NULL DEFAULT 0,
    delivery      TEXT NOT NULL DEFAULT 'pending'
                  CHECK (delivery IN ('pending', 'thread', 'dm', 'failed')),
    thread_id     INTEGER,
    followup_message_id INTEGER,
    archived      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX match_groups_by_round ON match_groups (guild_id, round_id, position);
CREATE INDEX match_groups_by_thread ON match_groups (guild_id, thread_id);

-- Members of a group and their answer to "Did you meet?".
CREATE TABLE match_members (
    guild_id      INTEGER NOT NULL,
    group_id      INTEGER NOT NULL REFERENCES match_groups (group_id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    outcome       TEXT CHECK (outcome IN ('met', 'not_yet', 'no_connect')),
    outcome_at    TEXT,
    wants_rematch INTEGER NOT NULL DEFAULT 0,
    dm_failed     INTEGER NOT NULL DEFAULT 0,
    quality       REAL,  -- partner score / own best, for the fairness shortfall
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX match_members_by_user ON match_members (guild_id, user_id);

-- Students a round could not place, with the matcher's reason code.
CREATE TABLE match_unmatched (
    guild_id   INTEGER NOT NULL,
    round_id   INTEGER NOT NULL REFERENCES match_rounds (round_id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (round_id, user_id)
);

-- Reports to staff (from a match thread's button or the message context menu).
CREATE TABLE match_reports (
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
    created_at   TEXT NOT NULL
);

CREATE INDEX match_reports_by_time ON match_reports (guild_id, created_at);
