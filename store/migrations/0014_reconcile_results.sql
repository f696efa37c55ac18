-- What each reconciliation found (issue 14): `koppel reconcile` and the poller's daily run
-- store their result here, so `koppel status` shows "last reconciled 03:12, 0 differences"
-- and the poller knows whether today's run is done. One row a run; old rows are history.
CREATE TABLE reconcile_runs (
    id bigserial PRIMARY KEY,
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    -- 'command' (koppel reconcile) or 'schedule' (the poller's daily run).
    trigger text NOT NULL CHECK (trigger IN ('command', 'schedule')),
    period_from date NOT NULL,
    period_to date NOT NULL,
    documents integer NOT NULL,
    matching integer NOT NULL,
    differences integer NOT NULL,
    -- kind → count (ops/reconcile/compare.py KINDS), and the differences themselves.
    counts jsonb NOT NULL DEFAULT '{}',
    details jsonb NOT NULL DEFAULT '[]',
    -- API calls the run made (Teamleader, Visma): its share of the rate budgets.
    teamleader_calls integer NOT NULL DEFAULT 0,
    visma_calls integer NOT NULL DEFAULT 0,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconcile_runs_latest ON reconcile_runs (connection_id, finished_at DESC);
