-- Sync events keep counters as reports arrive, so folding a report costs the same
-- however many rows its sync has: rows seen, and how many of them failed (`updated`
-- exists already).
ALTER TABLE sync_events ADD COLUMN row_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_events ADD COLUMN failed BIGINT NOT NULL DEFAULT 0;
UPDATE sync_events SET
    row_count = (SELECT COUNT(*) FROM sync_resources r WHERE r.sync_id = sync_events.sync_id),
    failed = (SELECT COUNT(*) FROM sync_resources r WHERE r.sync_id = sync_events.sync_id AND r.outcome = 'failed');
-- The deadline sweep looks for events still running.
CREATE INDEX sync_events_running ON sync_events (finished_at, started_at);
