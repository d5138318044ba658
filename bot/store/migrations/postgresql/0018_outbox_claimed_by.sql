-- Twin of the SQLite migration of the same name: who claimed an outbox row (the member's
-- shards and a token of its run), so a restarted member settles its own earlier claims at once.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
