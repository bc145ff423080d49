-- Flow 4: ephemeral roots of trust. No private key is stored: the DERG re-derives it from
-- (hk_pub, workload_digest, nonce) with the key store's master secret when it releases it.
CREATE TABLE erots (
    erot_id         TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    host_id         TEXT NOT NULL REFERENCES hosts (host_id),
    hk_public       TEXT NOT NULL,
    workload        TEXT NOT NULL,
    workload_digest TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    erot_pub        TEXT NOT NULL,
    status          TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX erots_by_expiry ON erots (status, expires_at);
