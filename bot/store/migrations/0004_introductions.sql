-- Introductions, welcomes and life-circumstance profiles.
-- Times are ISO-8601 UTC text written by to_db_time.

-- Per-guild settings of the intro feature (no personal data).
CREATE TABLE intro_settings (
    guild_id            INTEGER PRIMARY KEY,
    introduced_role_id  INTEGER,
    min_message_length  INTEGER NOT NULL DEFAULT 80,
    nudge_after_days    INTEGER NOT NULL DEFAULT 2,
    updated_at          TEXT NOT NULL
);

-- One introduction per person per guild. source 'modal' keeps the five answers; 'message'
-- (a plain post in the intro channel) keeps only the link. message_id NULL = the post was
-- deleted: the person can write it again, and then counts as introduced again.
CREATE TABLE intros (
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
    first_posted_at TEXT NOT NULL,
    posted_at     TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE INDEX intros_by_message ON intros (guild_id, message_id);

-- Arrivals: who joined when (by the injected clock), where the bot welcomed them, whether
-- they left. A member who left and rejoined keeps their intro; left_at is cleared.
CREATE TABLE intro_newcomers (
    guild_id            INTEGER NOT NULL,
    user_id             INTEGER NOT NULL,
    arrived_at          TEXT NOT NULL,
    welcome_channel_id  INTEGER,
    welcome_message_id  INTEGER,
    left_at             TEXT,
    PRIMARY KEY (guild_id, user_id)
);

CREATE INDEX intro_newcomers_by_welcome ON intro_newcomers (guild_id, welcome_message_id);

CREATE INDEX intro_newcomers_by_arrival ON intro_newcomers (guild_id, arrived_at);

-- "Welcomed by": a classmate replied to the newcomer's intro (or the bot's welcome of them),
-- or wrote in the intro's thread. The first welcome per (newcomer, welcomer) is kept.
CREATE TABLE intro_welcomes (
    guild_id     INTEGER NOT NULL,
    newcomer_id  INTEGER NOT NULL,
    welcomer_id  INTEGER NOT NULL,
    channel_id   INTEGER,
    message_id   INTEGER,
    welcomed_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, newcomer_id, welcomer_id)
);

CREATE INDEX intro_welcomes_by_welcomer ON intro_welcomes (guild_id, welcomer_id);

-- Private messages the intro feature sent a person: 'introduce' reminders (at most two) and
-- the one-time 'suggestions' of classmates who share a circumstance.
CREATE TABLE intro_reminders (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('introduce', 'suggestions')),
    sent_at   TEXT NOT NULL
);

CREATE INDEX intro_reminders_by_user ON intro_reminders (guild_id, user_id, kind);

-- Life-circumstance profile: one row per (person, attribute). value is a fixed choice code
-- (or an IANA zone for 'timezone'); visibility decides only what is SHOWN — every set value
-- except 'prefer_not_to_say' is usable for matching.
CREATE TABLE profile_attributes (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    attribute   TEXT NOT NULL,
    value       TEXT NOT NULL,
    visibility  TEXT NOT NULL DEFAULT 'private'
                CHECK (visibility IN ('private', 'matches', 'classmates')),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id, attribute)
);

CREATE INDEX profile_attributes_findable ON profile_attributes (guild_id, attribute, value)
    WHERE visibility = 'classmates';

-- Matching preferences: similar / different / don't mind, per attribute.
CREATE TABLE profile_preferences (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    attribute   TEXT NOT NULL,
    preference  TEXT NOT NULL CHECK (preference IN ('similar', 'different', 'dont_mind')),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id, attribute)
);
