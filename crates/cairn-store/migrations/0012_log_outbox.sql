-- The log's transactional outbox (docs/audit.md "Sequencing"): a change of state writes its
-- log entry here in the change's own transaction, so a change is committed if and only if its
-- entry is (invariant 13). The log writer moves entries from here into the tree, deleting them
-- in the transaction that appends them. `id` orders them: the time of the insert in
-- nanoseconds (20 digits), then random hex.
CREATE TABLE log_outbox (
    id      TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    owner   TEXT,
    entry   TEXT NOT NULL
);
