-- Airlock's schema. It must run unchanged on PostgreSQL and SQLite, so it sticks to
-- TEXT and BIGINT: ids are application-made UUID strings, times are milliseconds since
-- the Unix epoch, booleans are 0/1, and sets (control tags) or rules are JSON text.
-- Referential integrity is kept by the application: status reports and receiving state
-- may legitimately name rows that arrive later, so there are no foreign keys.

-- The single row (id = 1) of platform switches and the platform's maximum level.
CREATE TABLE platform_settings (
    id BIGINT PRIMARY KEY,
    infosec_enabled BIGINT NOT NULL,
    max_level_name TEXT NOT NULL,
    max_level_order BIGINT NOT NULL
);

-- The classification scale, in the order the administrator gave it.
CREATE TABLE platform_levels (
    position BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    level_order BIGINT NOT NULL
);

CREATE TABLE control_tags (
    tag TEXT PRIMARY KEY,
    active BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level_name TEXT NOT NULL,
    level_order BIGINT NOT NULL,
    tags TEXT NOT NULL
);

CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    level_name TEXT NOT NULL,
    level_order BIGINT NOT NULL,
    tags TEXT NOT NULL,
    origin_connection_id TEXT,
    created_at BIGINT NOT NULL,
    withdrawn_at BIGINT
);
CREATE INDEX resources_owner ON resources (owner_id);
CREATE INDEX resources_origin ON resources (origin_connection_id);

CREATE TABLE revisions (
    id TEXT PRIMARY KEY,
    resource_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX revisions_by_resource ON revisions (resource_id, created_at, id);

-- View access granted to a user on a resource.
CREATE TABLE grants (
    resource_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (resource_id, user_id)
);
CREATE INDEX grants_by_user ON grants (user_id);

CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    shared_id TEXT NOT NULL,
    store_label TEXT NOT NULL,
    wrapped_secret TEXT NOT NULL,
    permitted_level_name TEXT,
    permitted_level_order BIGINT,
    permitted_tags TEXT NOT NULL,
    shard_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    archived_at BIGINT,
    health TEXT
);

-- Each row is one rule as JSON; position keeps the order the administrator listed.
CREATE TABLE transform_rules (
    connection_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    rule TEXT NOT NULL,
    PRIMARY KEY (connection_id, position)
);

CREATE TABLE connection_owners (
    connection_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (connection_id, user_id)
);
CREATE INDEX connection_owners_by_user ON connection_owners (user_id);

CREATE TABLE shares (
    connection_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    shared_by TEXT NOT NULL,
    shared_at BIGINT NOT NULL,
    removed_at BIGINT,
    removed_reason TEXT,
    PRIMARY KEY (connection_id, resource_id)
);

CREATE TABLE published (
    connection_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    shard BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    entry_json TEXT NOT NULL,
    PRIMARY KEY (connection_id, resource_id)
);

-- Kept apart from connections so that the increment is one upsert that needs no
-- connection row and touches nothing else.
CREATE TABLE manifest_sequences (
    connection_id TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);

CREATE TABLE manifest_state (
    connection_id TEXT NOT NULL,
    shard BIGINT NOT NULL,
    sequence BIGINT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (connection_id, shard)
);

CREATE TABLE applied (
    connection_id TEXT NOT NULL,
    remote_resource_id TEXT NOT NULL,
    shard BIGINT NOT NULL,
    entry_digest TEXT NOT NULL,
    local_resource_id TEXT NOT NULL,
    PRIMARY KEY (connection_id, remote_resource_id)
);

CREATE TABLE incoming_tags (
    connection_id TEXT PRIMARY KEY,
    tags TEXT NOT NULL
);

-- expected_rows is how many distinct resource rows must be present before the event can
-- finish: the rows the stage reported itself plus the ones it said were still pending.
CREATE TABLE sync_events (
    sync_id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    health TEXT,
    message TEXT NOT NULL,
    stage_finished BIGINT NOT NULL,
    stage_failed BIGINT NOT NULL,
    pending BIGINT NOT NULL,
    expected_rows BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX sync_events_by_connection ON sync_events (connection_id, started_at, sync_id);

CREATE TABLE sync_resources (
    sync_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_id)
);

-- Units of work already done (a publish run of one sync), so that a redelivered message
-- finds its work done and changes nothing.
CREATE TABLE processed_work (
    work_key TEXT PRIMARY KEY,
    done_at BIGINT NOT NULL
);
