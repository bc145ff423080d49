-- The log's durable queues (docs/audit.md "Sequencing"): a server acknowledges an event once
-- it is in its queue file, and sequences queued entries into the tree in batches. Each
-- append records, in the same transaction, how far into its queue it has sequenced, so that
-- replaying a queue after a crash appends each entry exactly once.
CREATE TABLE log_queues (
    queue     TEXT PRIMARY KEY,
    -- Queue positions below this one are in the tree.
    sequenced BIGINT NOT NULL
);
