-- Portable SQL: the same statements run on SQLite and PostgreSQL. Times are seconds since
-- the epoch (BIGINT), binary values base64url TEXT, reports canonical JSON TEXT.

CREATE TABLE hosts (
    host_id     TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hk_alg      TEXT NOT NULL,
    hk_public   TEXT NOT NULL,
    status      TEXT NOT NULL,
    report      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE host_fingerprints (
    host_id     TEXT NOT NULL REFERENCES hosts (host_id),
    fingerprint TEXT NOT NULL,
    report      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX host_fingerprints_by_host ON host_fingerprints (host_id, recorded_at);

-- Outstanding challenges. Consuming one deletes its row, so a nonce is used at most once,
-- whichever replica sees it.
CREATE TABLE nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX nonces_by_expiry ON nonces (expires_at);

-- Bearer tokens, stored as SHA-256 of the token: a database dump reveals none of them.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    used_at    BIGINT
);
