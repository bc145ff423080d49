-- Flow 3: volumes whose keys the key broker releases, and the instances the issuer placed.

-- A volume key is stored only wrapped: base64url(nonce ‖ AES-256-GCM(key)) under the key
-- store's key-encryption key `kek_id`, with the volume id as associated data.
CREATE TABLE volumes (
    volume_id   TEXT PRIMARY KEY,
    format      TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    kek_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE instances (
    instance_id  TEXT PRIMARY KEY,
    host_id      TEXT NOT NULL REFERENCES hosts (host_id),
    volume_ids   TEXT NOT NULL,
    image_digest TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
