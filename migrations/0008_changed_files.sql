-- The files changed since a sending connection's last publish run, so that a run after a
-- few changes reads and rewrites only what holds them, whatever the number of files
-- shared. A write to a file (its resource, a revision, a received change) marks it for
-- every connection sharing it; making or removing a share marks it for that connection.
-- `n` orders the marks: a run forgets the ones it covered, and a mark made while it ran
-- (a higher n) stays for the next run. Changes that concern every file (platform
-- settings, control tags, levels, the connection itself) still move registry_changes,
-- and the next run reads everything.
CREATE TABLE changed_files (
    connection_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (connection_id, resource_id)
);
-- The counter the marks take their n from.
INSERT INTO registry_changes (id, n) VALUES (2, 0);
CREATE INDEX changed_files_by_mark ON changed_files (connection_id, n);
