-- Platform administration: what a registry user's account holds beyond their clearance,
-- and the audit log of administrative changes. Portable like 0001: TEXT and BIGINT only.

-- Users are created on first sign-in; rows from before this migration keep an empty email,
-- the feature flag off, and 0 for the times nobody recorded.
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN secure_connections BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;

-- One row per change: who (actor), what (action, target), the state before and after as
-- JSON text (NULL when there is none), and when. seq orders entries made in the same
-- millisecond; it is assigned as one more than the highest so far.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    id TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);

-- The shares of one file, for its owner's list and for tag deactivation.
CREATE INDEX shares_by_resource ON shares (resource_id);
