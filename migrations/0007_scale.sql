-- Manifest format 2: a signed root names content-addressed shard objects, and a receiver
-- fetches only the shards whose digest changed. A shard's manifest_state row records the
-- digest applied; the root's own row uses shard 4294967295.

-- The shards a receiving sync fetched, recorded in manifest_state only when that sync's
-- event finishes with every file arrived (in the same transaction); dropped otherwise, so
-- the next validation fetches them again.
CREATE TABLE pending_shards (
    sync_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    shard BIGINT NOT NULL,
    sequence BIGINT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (sync_id, shard)
);

-- A changed shard's applied entries, read without scanning the connection's others.
CREATE INDEX applied_by_shard ON applied (connection_id, shard);

-- Whether a sending connection's published records may hold what no manifest of it shows
-- yet: `dirty` moves on when a run starts (and when a copy of a run that lost its lease
-- records a revision); a run that wrote its manifest sets `clean` to the value it started
-- at. A run starting with dirty > clean rebuilds every shard; otherwise only the shards
-- whose entries it changed.
-- `root_digest` is the SHA-256 of the signed manifest the connection last wrote: a run
-- builds on the manifest in its outbox only when it is exactly that one (not one another
-- holder of the secret put there, nor an older one put back).
CREATE TABLE publish_versions (
    connection_id TEXT PRIMARY KEY,
    dirty BIGINT NOT NULL,
    clean BIGINT NOT NULL,
    root_digest TEXT,
    -- registry_changes.n as the last run that wrote (or kept) the manifest read it first.
    registry_seen BIGINT NOT NULL DEFAULT -1
);

-- Moves on with every write a publish depends on (resources, revisions, shares, transform
-- rules, connections, platform settings, control tags, levels): a sending connection
-- whose last run saw this value, and whose manifest is in its outbox and fresh, has
-- nothing to publish, found in a few reads whatever the number of its files.
CREATE TABLE registry_changes (
    id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO registry_changes (id, n) VALUES (1, 0);

-- A publish run that fanned its copies out over the publisher's workers: the copies it
-- planned, each settled once (ok or failed), and the counts its finish and the progress
-- shown while it runs are read from.
CREATE TABLE publish_runs (
    sync_id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    planned BIGINT NOT NULL,
    settled BIGINT NOT NULL,
    planned_bytes BIGINT NOT NULL,
    settled_bytes BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    -- What the plan's start of the run gave (see publish_versions), for its finish.
    version BIGINT NOT NULL,
    rebuild_all BIGINT NOT NULL
);

CREATE TABLE publish_copies (
    sync_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    shard BIGINT NOT NULL,
    entry_json TEXT NOT NULL,
    -- The outbox object the copy replaces, scheduled for deletion when it is done.
    replaces TEXT,
    -- NULL until settled, then 'ok' or 'failed' (with the reason in message).
    outcome TEXT,
    message TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_id)
);

-- What a running receiving sync has to move, for its progress: the files and bytes its
-- validation emitted, and the bytes stored so far (its files done are the event's rows).
-- Gone once the event finishes.
CREATE TABLE receive_progress (
    sync_id TEXT PRIMARY KEY,
    files_total BIGINT NOT NULL,
    bytes_total BIGINT NOT NULL,
    bytes_done BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);
