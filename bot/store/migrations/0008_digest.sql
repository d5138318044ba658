-- The weekly digest for cohort leads. Times are Unix seconds (UTC).

-- Per cohort: the needs-attention thresholds (the schedule itself is in `schedules`).
CREATE TABLE digest_settings (
    guild_id         INTEGER NOT NULL,
    cohort_id        INTEGER NOT NULL,
    drift_days       INTEGER NOT NULL DEFAULT 14 CHECK (drift_days BETWEEN 1 AND 90),
    intro_grace_days INTEGER NOT NULL DEFAULT 7 CHECK (intro_grace_days BETWEEN 0 AND 90),
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id)
);

-- Who on the team is following up with a student: carries over from week to week.
-- lead_id becomes NULL when the lead erases their data (the state stays for the others).
CREATE TABLE digest_followups (
    guild_id   INTEGER NOT NULL,
    cohort_id  INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('reaching_out', 'contacted', 'excused')),
    lead_id    INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, cohort_id, user_id)
);
CREATE INDEX digest_followups_by_lead ON digest_followups (guild_id, lead_id);

-- Leads and instructors who also want the digest by DM (off unless they turn it on).
CREATE TABLE digest_lead_dms (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
