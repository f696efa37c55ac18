-- The interval (seconds) of the `koppel poll` that last polled each stream successfully, so
-- `koppel status` shows and judges silence by the interval really in use: `--interval-s`
-- overrides the connection's poll_interval_s without touching it. NULL while only one-off
-- rounds (`poll --once`, `sync --once`) polled the stream; such a round keeps the value.
ALTER TABLE cursors ADD COLUMN interval_s double precision CHECK (interval_s > 0);
