-- Who claimed an outbox row: the claiming process's member identity (its shards, e.g.
-- "0,1/4") and a token of that run ("0,1/4#3f9c0a1b2d4e"). A restarted cluster member
-- settles the rows an earlier run of itself left 'sending' at once, instead of waiting out
-- their lease. Another member's claims stay under the lease. NULL: claimed before this
-- column existed (settled after the lease, as before).
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
