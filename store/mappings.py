"""VAT mappings: Teamleader tax rate → Visma VAT code and revenue account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from store import connections
from store.db import Pool


@dataclass(frozen=True)
class VatRow:
    tax_rate_id: str
    rate: Decimal  # a fraction: 0.21 for 21 %
    description: str | None
    vat_code_id: str
    vat_code: str | None
    revenue_account: int


def vat_rows(pool: Pool, connection_id: uuid.UUID) -> list[VatRow]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT tax_rate_id, rate, description, vat_code_id, vat_code, revenue_account"
            " FROM vat_mappings WHERE connection_id = %s ORDER BY rate DESC, tax_rate_id",
            [connection_id],
        ).fetchall()
    return [VatRow(**row) for row in rows]


def set_vat(pool: Pool, connection_id: uuid.UUID, row: VatRow) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO vat_mappings (connection_id, tax_rate_id, rate, description,"
            " vat_code_id, vat_code, revenue_account) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (connection_id, tax_rate_id) DO UPDATE SET rate = EXCLUDED.rate,"
            " description = EXCLUDED.description, vat_code_id = EXCLUDED.vat_code_id,"
            " vat_code = EXCLUDED.vat_code, revenue_account = EXCLUDED.revenue_account",
            [
                connection_id,
                row.tax_rate_id,
                row.rate,
                row.description,
                row.vat_code_id,
                row.vat_code,
                row.revenue_account,
            ],
        )
    # Workers reload the connection's posting map before their next document.
    connections.reference_changed(pool, [connection_id])
