-- Koppel's state. Every row carries its connection (docs/architecture.md#the-flow).

CREATE TABLE connections (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    -- A sandbox connection talks to the local simulators instead of the real APIs.
    sandbox boolean NOT NULL DEFAULT false,
    teamleader_account_id text,
    teamleader_department_id text NOT NULL,
    visma_company_id text,
    -- The first poll reads changes from this day on (later ones from their cursors).
    sync_from date NOT NULL,
    poll_interval_s integer NOT NULL DEFAULT 900 CHECK (poll_interval_s > 0),
    receivables_account integer NOT NULL DEFAULT 1300,
    invoice_number_rule text NOT NULL DEFAULT '{year}{number:05d}',
    credit_note_number_rule text NOT NULL DEFAULT '{year}9{number:04d}',
    -- Visma terms of payment for a customer whose Teamleader payment term has no match.
    default_terms_of_payment_id text,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- OAuth token pairs, encrypted with Fernet (the key comes from KOPPEL_TOKEN_KEY).
CREATE TABLE tokens (
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    service text NOT NULL CHECK (service IN ('teamleader', 'visma')),
    access_token bytea NOT NULL,
    refresh_token bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, service)
);

-- Where each stream's poll resumes: the largest remote timestamp seen (docs/architecture.md#cursors).
CREATE TABLE cursors (
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    stream text NOT NULL,
    watermark timestamptz,
    last_success_at timestamptz,
    last_error text,
    last_error_at timestamptz,
    PRIMARY KEY (connection_id, stream)
);

-- Teamleader tax rate → Visma VAT code and revenue account.
CREATE TABLE vat_mappings (
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    tax_rate_id text NOT NULL,
    rate numeric(7, 4) NOT NULL,
    description text,
    vat_code_id text NOT NULL,
    vat_code text,
    revenue_account integer NOT NULL,
    PRIMARY KEY (connection_id, tax_rate_id)
);

-- Every message the producers published, by dedupe key, and how it ended. A key is the
-- business identity plus version, so a re-poll of an unchanged document maps to the same row.
CREATE TABLE messages (
    dedupe_key text PRIMARY KEY,
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    queue text NOT NULL,
    document_type text NOT NULL,
    document_id text NOT NULL,
    version text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    -- NULL while waiting; then posted, updated, unchanged, skipped, attention or failed.
    outcome text,
    detail text,
    finished_at timestamptz
);
CREATE INDEX messages_waiting ON messages (connection_id) WHERE outcome IS NULL;

-- A write to Visma or Teamleader, which have no idempotency keys (docs/architecture.md#exactly-once): the row is
-- in_flight from just before the call until its remote id is recorded. Finding it in_flight
-- means an earlier attempt may have been applied: look the reference up before writing again.
CREATE TABLE external_writes (
    key text PRIMARY KEY,
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    kind text NOT NULL,
    reference text NOT NULL,
    state text NOT NULL CHECK (state IN ('in_flight', 'done', 'refused')),
    remote_id text,
    attempts integer NOT NULL DEFAULT 1,
    detail text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Which Visma object a Teamleader object became.
CREATE TABLE links (
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    teamleader_type text NOT NULL,
    teamleader_id text NOT NULL,
    visma_type text NOT NULL,
    visma_id text NOT NULL,
    visma_number text,
    -- Of what was written, so a later version can be compared with it.
    fingerprint text,
    -- Ledger items: the remaining amount (invoice currency) Koppel last saw in Visma.
    remaining numeric(14, 2),
    currency text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, teamleader_type, teamleader_id)
);
CREATE UNIQUE INDEX links_visma ON links (connection_id, visma_type, visma_id);

-- Messages that could not succeed, with a reason a bookkeeper can act on (docs/architecture.md#failures-are-data),
-- and documents that need a person (status attention).
CREATE TABLE failures (
    id bigserial PRIMARY KEY,
    connection_id uuid REFERENCES connections ON DELETE CASCADE,
    queue text NOT NULL,
    document_type text,
    document_id text,
    dedupe_key text,
    message jsonb NOT NULL,
    error_class text NOT NULL,
    reason text NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'requeued', 'resolved', 'attention')),
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX failures_open ON failures (connection_id, status);
CREATE UNIQUE INDEX failures_one_open_per_key ON failures (queue, dedupe_key)
    WHERE status IN ('open', 'attention');

-- The timeline of one document: seen, queued, posted, paid, failed, requeued.
CREATE TABLE history (
    id bigserial PRIMARY KEY,
    connection_id uuid NOT NULL REFERENCES connections ON DELETE CASCADE,
    document_type text NOT NULL,
    document_id text NOT NULL,
    event text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_document ON history (connection_id, document_type, document_id, at);
