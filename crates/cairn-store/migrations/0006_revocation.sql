-- Credentials that can be withdrawn. A revoked bearer token stops working at once. An
-- instance revoked, or placed on another host, has every security token issued for it before
-- then refused by the key broker: tokens whose `iat` is before `tokens_after` (a revocation
-- sets it past the current second). Every replica reads these rows on each request.
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
ALTER TABLE instances ADD COLUMN revoked_at BIGINT;
ALTER TABLE instances ADD COLUMN tokens_after BIGINT NOT NULL DEFAULT 0;
