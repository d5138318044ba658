-- Coffee-chat delivery that survives restarts. Times are ISO-8601 UTC
-- text (to_db_time).

-- A posted round is delivered group by group: delivered_at is set once every group has its
-- thread (or DMs) and its messages are queued in the outbox, and the unmatched were told.
-- fairness_saved makes the round's fairness update happen once, whatever restarts happen.
ALTER TABLE match_rounds ADD COLUMN delivered_at TEXT;
ALTER TABLE match_rounds ADD COLUMN fairness_saved INTEGER NOT NULL DEFAULT 0;

-- Rounds posted before this migration were delivered in one go.
UPDATE match_rounds SET delivered_at = COALESCE(posted_at, created_at), fairness_saved = 1
WHERE status IN ('posted', 'ended');

CREATE INDEX match_rounds_undelivered ON match_rounds (status, delivered_at);

-- A group's delivery: pending (no thread yet) -> thread (thread_id stored) -> announced
-- (its first message queued in the outbox), or dm / failed. attempts counts thread
-- creations started (a retry after a restart first looks for the thread it may have made).
ALTER TABLE match_groups ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE match_groups ADD COLUMN last_error TEXT;
ALTER TABLE match_groups ADD COLUMN announced_at TEXT;

-- A member who left the server mid-round (removed from the thread, partner told), and a
-- member who chose "priority next round" after "Couldn't connect" (never re-matched now).
ALTER TABLE match_members ADD COLUMN departed_at TEXT;
ALTER TABLE match_members ADD COLUMN chose_priority INTEGER NOT NULL DEFAULT 0;
