-- `koppel connections pause | resume | remove` (issue 11).
--
-- A paused connection is not polled and the consumers acknowledge its queued messages
-- without effect (outcome `skipped`, detail "connection paused"); `resume` has the poller
-- read those documents again.
ALTER TABLE connections ADD COLUMN paused_at timestamptz;

-- A removed connection stops for good. It is a soft delete: the row stays, marked here,
-- and only its secrets (tokens) and live state (cursors) are deleted. Every history, link,
-- failure, message and external write row references the connection (ON DELETE CASCADE):
-- deleting the row would delete the story with it, and moving the rows to archive tables
-- would make every reader (`koppel history`, `koppel dlq`, the exactly-once writes) look in
-- two places and give up the foreign keys that keep them consistent. Marked, every row
-- stays where its readers look, and a dead letter still names a connection that exists.
ALTER TABLE connections ADD COLUMN removed_at timestamptz;

-- Before this, the only way to stop a connection was `active = false` by hand: such a
-- connection becomes paused (listed, resumable). From here on `active` is false only for a
-- removed connection.
UPDATE connections SET paused_at = now(), active = true WHERE NOT active;

-- A removed connection gives its name back, so `koppel connect` can make a new one by that
-- name; the removed one stays addressable by its id.
DROP INDEX connections_name;
CREATE UNIQUE INDEX connections_name ON connections (name) WHERE removed_at IS NULL;
