"""When each connection's open Visma ledger items were last read whole (migration 0011)."""

from __future__ import annotations

import uuid

from store.db import Pool


def claim(pool: Pool, connection_id: uuid.UUID, every_s: float) -> bool:
    """Whether a pass is due (none in the last ``every_s`` seconds); claimed if so, in one
    statement, so two pollers never both make it."""
    with pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO visma_open_item_passes (connection_id) VALUES (%s)"
            " ON CONFLICT (connection_id) DO UPDATE SET passed_at = now()"
            " WHERE visma_open_item_passes.passed_at <= now() - make_interval(secs => %s)"
            " RETURNING 1",
            [connection_id, every_s],
        ).fetchone()
    return row is not None
