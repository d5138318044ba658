-- Course calendar, outbox (every scheduled or bulk message), nudges, away, close-term.
-- Times are Unix seconds (UTC) unless a column says it is a local date.

-- One calendar per cohort: start date (local), teaching weeks, break weeks (local Mondays).
CREATE TABLE course_calendars (
    guild_id    INTEGER NOT NULL,
    cohort_id   INTEGER NOT NULL,
    start_date  TEXT NOT NULL,
    weeks       INTEGER NOT NULL CHECK (weeks BETWEEN 1 AND 52),
    break_weeks TEXT NOT NULL DEFAULT '',
    closed_at   INTEGER,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id)
);

-- The outbox: a message is a row first, then the sender delivers it at most once
-- (nonce = id). Exactly one of channel_id / user_id names the destination.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER NOT NULL,
    cohort_id       INTEGER NOT NULL DEFAULT 0,
    kind            TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    channel_id      INTEGER,
    user_id         INTEGER,
    payload         TEXT NOT NULL,
    not_before      INTEGER NOT NULL,
    expires_at      INTEGER,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'cancelled',
                                     'expired')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    message_id      INTEGER,
    sent_channel_id INTEGER,
    created_at      INTEGER NOT NULL,
    claimed_at      INTEGER,
    sent_at         INTEGER,
    CHECK ((channel_id IS NULL) <> (user_id IS NULL)),
    UNIQUE (guild_id, kind, dedupe_key)
);

CREATE INDEX outbox_due ON outbox (state, not_before);
CREATE INDEX outbox_by_user ON outbox (guild_id, user_id, kind);
CREATE INDEX outbox_by_guild ON outbox (guild_id, state, not_before);

-- A guild whose sending is paused (missing permission) until an instructor resumes it.
CREATE TABLE outbox_pauses (
    guild_id   INTEGER PRIMARY KEY,
    reason     TEXT NOT NULL,
    channel_id INTEGER,
    paused_at  INTEGER NOT NULL,
    notified   INTEGER NOT NULL DEFAULT 0
);

-- Per student: the DM channel id (a first DM costs two requests) and the DMs-closed mark.
CREATE TABLE dm_channels (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    dm_channel_id INTEGER,
    dm_closed_at  INTEGER,
    PRIMARY KEY (guild_id, user_id)
);

-- Opt-in per nudge kind (off unless a row says on), and whether the offer was shown.
CREATE TABLE nudge_optins (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    opted_in   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, kind)
);

CREATE TABLE nudge_offers (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    offered_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- Every nudge queued, for caps and the preview.
CREATE TABLE nudge_log (
    guild_id  INTEGER NOT NULL,
    cohort_id INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    week_key  TEXT NOT NULL,
    outbox_id INTEGER,
    queued_at INTEGER NOT NULL
);

CREATE INDEX nudge_log_by_week ON nudge_log (guild_id, user_id, week_key);

-- Per-guild nudge settings (NULL = default) and per-kind switches.
CREATE TABLE nudge_settings (
    guild_id       INTEGER PRIMARY KEY,
    weekly_cap     INTEGER,
    quiet_start    TEXT,
    quiet_end      TEXT,
    inactive_days  INTEGER,
    checkin_day    INTEGER CHECK (checkin_day BETWEEN 0 AND 6),
    batch_time     TEXT,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE nudge_kind_settings (
    guild_id INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    enabled  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, kind)
);

-- Away: no nudges and no matching until the local date `until_date` (inclusive).
CREATE TABLE away (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    until_date  TEXT NOT NULL,
    note        TEXT,
    started_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- One-off changes to an upcoming occasion from /course upcoming (skip it, or other text).
CREATE TABLE occasion_overrides (
    guild_id   INTEGER NOT NULL,
    item_key   TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('skip', 'edit')),
    body       TEXT,
    updated_by INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, item_key)
);

-- Close-term "keep in touch": a student's opt-in and the contact line they chose to share.
CREATE TABLE keep_in_touch (
    guild_id     INTEGER NOT NULL,
    cohort_id    INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    contact_line TEXT NOT NULL,
    opted_in_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, user_id)
);
