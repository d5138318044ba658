-- The coffee shop: celebrations and rough weeks, kudos, milestones, the weekly pulse,
-- the social question and circles. Times are Unix seconds (UTC) for cheap weekly counts.

-- Per-server limits (defaults apply while there is no row).
CREATE TABLE coffee_config (
    guild_id       INTEGER PRIMARY KEY,
    kudos_per_day  INTEGER NOT NULL DEFAULT 3 CHECK (kudos_per_day BETWEEN 1 AND 50),
    circle_size    INTEGER NOT NULL DEFAULT 25 CHECK (circle_size BETWEEN 2 AND 1000)
);

-- A student's own coffee-shop settings. Milestone notes are off unless turned on.
CREATE TABLE coffee_settings (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    milestones_on INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- /celebrate and /share posts. author_id is kept for unnamed posts too: only an instructor
-- can look it up (/course coffee author). Reactions and replies by classmates are counted.
CREATE TABLE coffee_posts (
    guild_id    INTEGER NOT NULL,
    post_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    cohort_id   INTEGER NOT NULL DEFAULT 0,
    author_id   INTEGER,
    kind        TEXT NOT NULL
                CHECK (kind IN ('course_win', 'personal_win', 'life_update', 'rough_week')),
    anonymous   INTEGER NOT NULL DEFAULT 0,
    channel_id  INTEGER NOT NULL,
    message_id  INTEGER,
    reactions   INTEGER NOT NULL DEFAULT 0,
    replies     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX coffee_posts_by_time ON coffee_posts (guild_id, created_at);
CREATE UNIQUE INDEX coffee_posts_by_message ON coffee_posts (guild_id, message_id);
CREATE INDEX coffee_posts_by_author ON coffee_posts (guild_id, author_id);

-- Kudos between students. Either id becomes NULL when that person's data is erased, so the
-- other person's count stays right.
CREATE TABLE coffee_kudos (
    guild_id    INTEGER NOT NULL,
    kudos_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    cohort_id   INTEGER NOT NULL DEFAULT 0,
    giver_id    INTEGER,
    receiver_id INTEGER,
    reason      TEXT,
    message_id  INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX coffee_kudos_by_giver ON coffee_kudos (guild_id, giver_id, created_at);
CREATE INDEX coffee_kudos_by_time ON coffee_kudos (guild_id, created_at);

-- Each milestone at most once per student (the primary key).
CREATE TABLE coffee_milestones (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    milestone  TEXT NOT NULL,
    cohort_id  INTEGER NOT NULL DEFAULT 0,
    reached_at INTEGER NOT NULL,
    note       TEXT NOT NULL DEFAULT 'off'
               CHECK (note IN ('off', 'sent', 'dm_closed', 'failed')),
    PRIMARY KEY (guild_id, user_id, milestone)
);
CREATE INDEX coffee_milestones_by_time ON coffee_milestones (guild_id, reached_at);

-- One weekly pulse per server and course week.
CREATE TABLE coffee_pulses (
    guild_id   INTEGER NOT NULL,
    pulse_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    week_start TEXT NOT NULL,
    closes_at  INTEGER NOT NULL,
    channel_id INTEGER,
    message_id INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (guild_id, week_start)
);

-- The anonymous answers, as totals only: no student id, no time, no row per answer (so not
-- even the order of rows can be matched against coffee_pulse_respondents).
CREATE TABLE coffee_pulse_tallies (
    guild_id  INTEGER NOT NULL,
    pulse_id  INTEGER NOT NULL REFERENCES coffee_pulses(pulse_id) ON DELETE CASCADE,
    cohort_id INTEGER NOT NULL DEFAULT 0,
    answer    TEXT NOT NULL CHECK (answer IN ('great', 'okay', 'struggling', 'hard')),
    count     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, pulse_id, cohort_id, answer)
);

-- Who has answered this week's pulse (so answers are final), without what they answered.
CREATE TABLE coffee_pulse_respondents (
    guild_id INTEGER NOT NULL,
    pulse_id INTEGER NOT NULL REFERENCES coffee_pulses(pulse_id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, pulse_id, user_id)
) WITHOUT ROWID;

-- "Please reach out to me": NOT anonymous, by design; it goes privately to the leads.
CREATE TABLE coffee_reach_outs (
    guild_id   INTEGER NOT NULL,
    pulse_id   INTEGER NOT NULL REFERENCES coffee_pulses(pulse_id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, pulse_id, user_id)
);
CREATE INDEX coffee_reach_outs_by_time ON coffee_reach_outs (guild_id, created_at);

-- Which coffee-shop questions a server was asked (so the bank rotates without repeats).
CREATE TABLE coffee_questions_asked (
    guild_id       INTEGER NOT NULL,
    question_index INTEGER NOT NULL,
    slot           TEXT NOT NULL,
    asked_at       INTEGER NOT NULL,
    PRIMARY KEY (guild_id, slot)
);

-- Circles: opt-in groups, each one or more private threads in the coffee shop.
CREATE TABLE coffee_circles (
    guild_id   INTEGER NOT NULL,
    circle_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL COLLATE NOCASE,
    created_at INTEGER NOT NULL,
    UNIQUE (guild_id, name)
);

CREATE TABLE coffee_circle_threads (
    guild_id  INTEGER NOT NULL,
    circle_id INTEGER NOT NULL REFERENCES coffee_circles(circle_id) ON DELETE CASCADE,
    thread_id INTEGER NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, thread_id),
    UNIQUE (guild_id, circle_id, position)
);

CREATE TABLE coffee_circle_members (
    guild_id  INTEGER NOT NULL,
    circle_id INTEGER NOT NULL REFERENCES coffee_circles(circle_id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, circle_id, user_id)
);
CREATE INDEX coffee_circle_members_by_thread ON coffee_circle_members (guild_id, thread_id);
