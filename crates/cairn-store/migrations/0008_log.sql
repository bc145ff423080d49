-- The transparency log (DESIGN.md "Transparency log and audit"): an RFC 6962 Merkle tree of
-- security events. `log_entries` holds each entry's bytes exactly as hashed; `log_hashes`
-- every complete node of the tree under its tlog stored-hash index (so a tile is a range of
-- rows and a proof a handful); `log_head` the size and signed checkpoint of the tree as last
-- sequenced. Rows are only ever added: a rewrite is caught against the signed checkpoint.
CREATE TABLE log_entries (
    idx     BIGINT PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The token hash of the customer whose ERoT the event concerns (what it may read).
    owner   TEXT,
    entry   TEXT NOT NULL
);
-- Only what is looked up is indexed, so that the frequent entries (PATs) cost none: an ERoT's
-- generation (its receipt's proof), and the entries a customer may read.
CREATE INDEX log_entries_by_erot ON log_entries (subject) WHERE kind = 'erot.generated';
CREATE INDEX log_entries_by_owner ON log_entries (owner, idx) WHERE owner IS NOT NULL;
CREATE TABLE log_hashes (
    idx  BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);
CREATE TABLE log_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       BIGINT NOT NULL,
    checkpoint TEXT NOT NULL
);
