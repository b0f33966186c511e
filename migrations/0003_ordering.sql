-- Per resource the newest sequence wins, whatever order deliveries finish in; per shard the
-- applied manifest state only moves forward; one validation and one publish per connection
-- at a time. Portable like 0001: TEXT and BIGINT only, one column per ALTER (SQLite).

-- The manifest sequence an applied entry came from. 0 for entries applied before this
-- migration, so any later ingest replaces them.
ALTER TABLE applied ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0;
-- 1 when the newest change for the resource was its removal: the row stays as a tombstone
-- so that an older upsert finishing late cannot bring the resource back.
ALTER TABLE applied ADD COLUMN withdrawn BIGINT NOT NULL DEFAULT 0;

-- The revision a receiving connection last applied, which is the resource's current one
-- whatever the order its revisions were stored in. NULL for local files (their newest
-- upload is current).
ALTER TABLE resources ADD COLUMN current_revision_id TEXT;

-- A lease on a unit of work that must not run twice at once (a connection's validation
-- or publish): held by one holder until it expires or is released.
CREATE TABLE leases (
    lease_key TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
