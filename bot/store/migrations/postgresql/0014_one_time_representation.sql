-- Twin of SQLite 0014: every instant column becomes a BIGINT of microseconds since the Unix
-- epoch, UTC (bot/store/times.py). Text columns are converted by PostgreSQL's own timestamptz
-- parser; columns that held whole epoch seconds are scaled. Dates and wall-clock times stay text.
SET LOCAL timezone = 'UTC';  -- text without a zone is UTC, as the SQLite conversion reads it

ALTER TABLE guild_config
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE cohorts
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint;
ALTER TABLE text_templates
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE schedules
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint;
ALTER TABLE schedule_ledger
    ALTER COLUMN claimed_at TYPE BIGINT USING (extract(epoch FROM claimed_at::timestamptz) * 1000000)::bigint;
ALTER TABLE intro_settings
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE intros
    ALTER COLUMN first_posted_at TYPE BIGINT USING (extract(epoch FROM first_posted_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN posted_at TYPE BIGINT USING (extract(epoch FROM posted_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE intro_newcomers
    ALTER COLUMN arrived_at TYPE BIGINT USING (extract(epoch FROM arrived_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN left_at TYPE BIGINT USING (extract(epoch FROM left_at::timestamptz) * 1000000)::bigint;
ALTER TABLE intro_welcomes
    ALTER COLUMN welcomed_at TYPE BIGINT USING (extract(epoch FROM welcomed_at::timestamptz) * 1000000)::bigint;
ALTER TABLE intro_reminders
    ALTER COLUMN sent_at TYPE BIGINT USING (extract(epoch FROM sent_at::timestamptz) * 1000000)::bigint;
ALTER TABLE profile_attributes
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE profile_preferences
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_settings
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_participants
    ALTER COLUMN joined_at TYPE BIGINT USING (extract(epoch FROM joined_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN left_at TYPE BIGINT USING (extract(epoch FROM left_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN paused_until TYPE BIGINT USING (extract(epoch FROM paused_until::timestamptz) * 1000000)::bigint,
    ALTER COLUMN stay_asked_at TYPE BIGINT USING (extract(epoch FROM stay_asked_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_avoids
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_blocks
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_rounds
    ALTER COLUMN week_start TYPE BIGINT USING (extract(epoch FROM week_start::timestamptz) * 1000000)::bigint,
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN posted_at TYPE BIGINT USING (extract(epoch FROM posted_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN followup_at TYPE BIGINT USING (extract(epoch FROM followup_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN ends_at TYPE BIGINT USING (extract(epoch FROM ends_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN ended_at TYPE BIGINT USING (extract(epoch FROM ended_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN delivered_at TYPE BIGINT USING (extract(epoch FROM delivered_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_groups
    ALTER COLUMN announced_at TYPE BIGINT USING (extract(epoch FROM announced_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_members
    ALTER COLUMN outcome_at TYPE BIGINT USING (extract(epoch FROM outcome_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN departed_at TYPE BIGINT USING (extract(epoch FROM departed_at::timestamptz) * 1000000)::bigint;
ALTER TABLE match_reports
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint;
ALTER TABLE prompt_settings
    ALTER COLUMN updated_at TYPE BIGINT USING (extract(epoch FROM updated_at::timestamptz) * 1000000)::bigint;
ALTER TABLE prompt_bank
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint;
ALTER TABLE prompt_groups
    ALTER COLUMN assigned_at TYPE BIGINT USING (extract(epoch FROM assigned_at::timestamptz) * 1000000)::bigint;
ALTER TABLE prompt_posts
    ALTER COLUMN posted_at TYPE BIGINT USING (extract(epoch FROM posted_at::timestamptz) * 1000000)::bigint;
ALTER TABLE prompt_answers
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN edited_at TYPE BIGINT USING (extract(epoch FROM edited_at::timestamptz) * 1000000)::bigint;
ALTER TABLE guild_presence
    ALTER COLUMN removed_at TYPE BIGINT USING (extract(epoch FROM removed_at::timestamptz) * 1000000)::bigint;
ALTER TABLE term_closures
    ALTER COLUMN closed_at TYPE BIGINT USING (extract(epoch FROM closed_at::timestamptz) * 1000000)::bigint,
    ALTER COLUMN purged_at TYPE BIGINT USING (extract(epoch FROM purged_at::timestamptz) * 1000000)::bigint;
ALTER TABLE term_roster
    ALTER COLUMN closed_at TYPE BIGINT USING (extract(epoch FROM closed_at::timestamptz) * 1000000)::bigint;
ALTER TABLE applied_tombstones
    ALTER COLUMN applied_at TYPE BIGINT USING (extract(epoch FROM applied_at::timestamptz) * 1000000)::bigint;
ALTER TABLE prompt_replies
    ALTER COLUMN created_at TYPE BIGINT USING (extract(epoch FROM created_at::timestamptz) * 1000000)::bigint;
UPDATE activity SET occurred_at = occurred_at * 1000000;
UPDATE course_calendars SET closed_at = closed_at * 1000000, updated_at = updated_at * 1000000;
UPDATE outbox SET not_before = not_before * 1000000, expires_at = expires_at * 1000000, created_at = created_at * 1000000, claimed_at = claimed_at * 1000000, sent_at = sent_at * 1000000;
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
