-- Outbox objects a newer manifest no longer names, kept until `due_at` so that a receiver
-- still working from the previous manifest can finish, then removed by a later publish.
CREATE TABLE pending_deletions (
    connection_id TEXT NOT NULL,
    object_key TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, object_key)
);
