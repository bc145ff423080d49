-- Challenges are stateless (each carries its expiry and a MAC under the deployment's key),
-- so nothing is stored when one is issued. What is stored is each challenge used, until it
-- expires: inserting it is the atomic "first use" test, whichever replica sees it.
DROP TABLE nonces;
CREATE TABLE used_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at);

-- Enrollments without a join token count the hosts awaiting approval.
CREATE INDEX hosts_by_status ON hosts (status);
