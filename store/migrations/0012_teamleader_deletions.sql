-- Teamleader objects Koppel found deleted after it linked them (docs/architecture.md#deletions):
-- one row each, so a deletion is noticed once, its attention raised once, and a later
-- document that reuses the deleted one's number can be told apart.
CREATE TABLE teamleader_deletions (
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    teamleader_type text NOT NULL,
    teamleader_id text NOT NULL,
    -- What Koppel had made of it in Visma (kept: never removed), when linked.
    visma_type text,
    visma_id text,
    visma_number text,
    -- How it was noticed: a webhook's check, the periodic check, or a consumer's 404.
    noticed_by text NOT NULL,
    noticed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, teamleader_type, teamleader_id)
);

-- When the poller last checked a connection's linked objects for deletions.
CREATE TABLE deletion_checks (
    connection_id uuid PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
    checked_at timestamptz NOT NULL
);

-- What Koppel does with a posted document deleted in Teamleader: list it as needing
-- attention (the default), or post the reversing credit in Visma itself.
ALTER TABLE connections ADD COLUMN on_teamleader_delete text NOT NULL DEFAULT 'attention'
    CHECK (on_teamleader_delete IN ('attention', 'reverse'));
