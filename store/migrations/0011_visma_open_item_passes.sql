-- When the Visma payments stream last read every open ledger item Koppel posted, per
-- connection (producers/open_items.py): a payment need not move an item's ModifiedUtc.
CREATE TABLE visma_open_item_passes (
    connection_id uuid PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    passed_at timestamptz NOT NULL DEFAULT now()
);
