-- Each distinct report is stored once, named by its fingerprint: a report is its components,
-- and the fingerprint is SHA-256 of their canonical form, so one names exactly one report.
-- A host's registered report and every entry of its history point here (before, each host
-- held its report twice: in `hosts` and again in its first history entry).
CREATE TABLE reports (
    fingerprint TEXT PRIMARY KEY,
    report      TEXT NOT NULL
);
INSERT INTO reports (fingerprint, report)
    SELECT fingerprint, MIN(report) FROM hosts WHERE true GROUP BY fingerprint
    ON CONFLICT (fingerprint) DO NOTHING;
INSERT INTO reports (fingerprint, report)
    SELECT fingerprint, MIN(report) FROM host_fingerprints WHERE true GROUP BY fingerprint
    ON CONFLICT (fingerprint) DO NOTHING;
ALTER TABLE hosts DROP COLUMN report;
ALTER TABLE host_fingerprints DROP COLUMN report;
