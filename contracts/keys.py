"""The keys that make each effect in Visma or Teamleader happen once.

A key names one PostgreSQL advisory lock (``store.writes.document_lock``) and one
``external_writes`` row (``store.writes.write_once``): every process that handles the same
document takes the same lock and finds the same row (docs/architecture.md#exactly-once).
Rows are stored, so a format never changes: a row written under an older format would not be
found, and the effect could happen a second time.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

#: Remaining amounts are keyed in cents, so 50, 50.0 and 50.00 are one observed change.
CENT = Decimal("0.01")


def posting(connection_id: uuid.UUID, document_type: str, document_id: str) -> str:
    """The lock and write key of the posting of one Teamleader invoice or credit note."""
    return f"posting:{connection_id}:{document_type}:{document_id}"


def customer(connection_id: uuid.UUID, kind: str, teamleader_id: str) -> str:
    """The lock and write key of one Teamleader contact or company as a Visma customer."""
    return f"customer:{connection_id}:{kind}:{teamleader_id}"


def payment_lock(connection_id: uuid.UUID, ledger_item_id: str) -> str:
    """The lock of one Visma ledger item's payments (its id in lower case): one change of
    its remaining amount is handled at a time."""
    return f"payment:{connection_id}:{ledger_item_id}"


def payment(connection_id: uuid.UUID, ledger_item_id: str, remaining: Decimal) -> str:
    """The write key of the payment registered for one observed remaining amount of a
    Visma ledger item (its id in lower case)."""
    return f"{payment_lock(connection_id, ledger_item_id)}:{remaining.quantize(CENT)}"


def deletion(connection_id: uuid.UUID, document_type: str, document_id: str) -> str:
    """The attention a posted document deleted in Teamleader raises (one per document)."""
    return f"deleted:{connection_id}:{document_type}:{document_id}"


def reversal(connection_id: uuid.UUID, document_type: str, document_id: str) -> str:
    """The reversing credit of a posted document deleted in Teamleader (written once)."""
    return f"reversal:{connection_id}:{document_type}:{document_id}"
