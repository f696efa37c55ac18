-- When a connection's reference data last changed in a way a worker's cache must see: a VAT
-- mapping or a connection setting was set, or a bookkeeper requeued dead letters after fixing
-- something in Visma. Workers compare it with the moment their cached copy reflects and
-- reload at once instead of waiting out the cache's lifetime (consumers/reference_data.py).
ALTER TABLE connections ADD COLUMN reference_changed_at timestamptz NOT NULL DEFAULT now();
