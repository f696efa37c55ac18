-- `koppel dlq purge` gives up on a dead letter for good: its row stays, marked purged, so the
-- document's story is complete (issue 4).
ALTER TABLE failures DROP CONSTRAINT failures_status_check;
ALTER TABLE failures ADD CONSTRAINT failures_status_check
    CHECK (status IN ('open', 'requeued', 'resolved', 'attention', 'purged'));
-- `koppel dlq` matches the messages in a `<queue>.XQ` to their rows by Dramatiq message id.
CREATE INDEX failures_message_id ON failures ((message ->> 'message_id'));
