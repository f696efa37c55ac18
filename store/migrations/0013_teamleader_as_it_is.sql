-- Teamleader as it really is (issue 13, points 2, 4 and 6).

-- Point 6: a credit note dated on or after the connection's start that credits an invoice
-- dated before it (booked elsewhere) is listed as needing attention ('attention'), or
-- posted without a credited Visma invoice ('post') when the bookkeeper wants that.
ALTER TABLE connections ADD COLUMN credits_of_earlier_invoices text NOT NULL
    DEFAULT 'attention' CHECK (credits_of_earlier_invoices IN ('attention', 'post'));

-- Point 4: how a document's currency_exchange_rate is read. 'labels': the labels say which
-- side is which (amount in `to` = amount in `from` ÷ rate, whichever of the two is the
-- company's currency); 'flipped': the opposite (amount in `to` = amount in `from` × rate).
ALTER TABLE connections ADD COLUMN exchange_rate_reading text NOT NULL
    DEFAULT 'labels' CHECK (exchange_rate_reading IN ('labels', 'flipped'));

-- Point 2: Visma numbers Koppel gives documents whose Teamleader number the connection's
-- rule cannot represent (a fiscal-year name like "FY2026", a sequence too long for the
-- rule's digits). One number per document, for ever: the primary key makes a second
-- allocation for the same document impossible, so two racing workers agree.
CREATE TABLE number_allocations (
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    document_type text NOT NULL,
    teamleader_id text NOT NULL,
    teamleader_number text NOT NULL,
    visma_number bigint NOT NULL,
    allocated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, document_type, teamleader_id),
    UNIQUE (connection_id, visma_number)
);

-- The last allocated number per connection; the first allocation starts at the sequence's
-- start (store/numbers.py), far above what the rules give for years up to 2099.
CREATE TABLE number_sequences (
    connection_id uuid PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    last_number bigint NOT NULL
);
