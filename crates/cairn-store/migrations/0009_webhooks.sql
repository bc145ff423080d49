-- Webhooks (docs/audit.md): the log is their durable outbox, so each only keeps its place in
-- it: `delivered` entries are done (delivered, or not wanted by its filter). `webhook` is the
-- webhook as configured, URL and filter (`URL#TYPES`). One replica delivers a webhook at a
-- time, the one whose lease has not run out: in log order, once.
CREATE TABLE webhook_cursors (
    webhook     TEXT PRIMARY KEY,
    delivered   BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL
);
