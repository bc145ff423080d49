-- TPM enrollment: a host whose hardware key is a TPM attestation key stays pending until it
-- proves, by credential activation, that the AK sits in the TPM of its EK. The row holds the
-- SHA-256 of the challenge secret (never the secret) and what activation grants: `active`
-- (a join token was spent, or the EK certificate chains to a CA trusted to auto-approve) or
-- `pending` (an operator approves afterwards).
CREATE TABLE host_activations (
    host_id       TEXT PRIMARY KEY REFERENCES hosts (host_id),
    secret_digest TEXT NOT NULL,
    grants        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
