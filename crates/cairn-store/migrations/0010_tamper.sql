-- Tamper detection (DESIGN.md flow 1): the tripped sensors a host was quarantined for, as a
-- JSON array, until an operator clears them after inspection; NULL when there are none.
ALTER TABLE hosts ADD COLUMN tamper TEXT;
