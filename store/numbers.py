"""Visma invoice numbers Koppel allocates: one per document whose Teamleader number the
connection's rule cannot represent (issue 13, point 2; migration 0013).

A fiscal-year name like "FY2026" or "Boekjaar 26", a renumbered "2018 / 17000056", or an
invoice sequence the credit-note rule also produces must not stop an account: such a
document gets the next number of a per-connection sequence, kept for ever with the
document, so every attempt, retry and racing worker posts it under the same number.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from config.errors import NeedsPerson
from store.db import Conn

#: The first number a sequence gives. Visma's InvoiceNumber is an int32 (≤ 2147483647);
#: the default rules give 9 digits for a 4-digit year ({year}{number:05d},
#: {year}9{number:04d}), so 10-digit numbers from here on are never theirs.
SEQUENCE_START = 1_000_000_001
INT32_MAX = 2**31 - 1


class SequenceExhausted(NeedsPerson):
    """No number left below Visma's int32 limit that the rules cannot produce."""


def allocated(
    conn: Conn, connection_id: uuid.UUID, document_type: str, document_id: str
) -> int | None:
    """The number allocated to the document before, if any."""
    row = conn.execute(
        "SELECT visma_number FROM number_allocations"
        " WHERE connection_id = %s AND document_type = %s AND teamleader_id = %s",
        [connection_id, document_type, document_id],
    ).fetchone()
    return int(row["visma_number"]) if row else None


def allocate(
    conn: Conn,
    connection_id: uuid.UUID,
    document_type: str,
    document_id: str,
    teamleader_number: str,
    acceptable: Callable[[int], bool] = lambda _: True,
) -> int:
    """The document's Visma number: the one allocated before, or the sequence's next one
    that ``acceptable`` allows (a number a rule could also give is passed over).

    Exactly once: the sequence row is locked (``FOR UPDATE``) for the transaction, so
    allocators of one connection take turns, and the document is looked up again under
    that lock; the primary key of ``number_allocations`` refuses a second row anyway."""
    with conn.transaction():
        before = allocated(conn, connection_id, document_type, document_id)
        if before is not None:
            return before
        conn.execute(
            "INSERT INTO number_sequences (connection_id, last_number) VALUES (%s, %s)"
            " ON CONFLICT (connection_id) DO NOTHING",
            [connection_id, SEQUENCE_START - 1],
        )
        row = conn.execute(
            "SELECT last_number FROM number_sequences WHERE connection_id = %s FOR UPDATE",
            [connection_id],
        ).fetchone()
        assert row is not None
        before = allocated(conn, connection_id, document_type, document_id)
        if before is not None:
            return before
        number = int(row["last_number"]) + 1
        while not acceptable(number):
            number += 1
            if number > INT32_MAX:
                break
        if number > INT32_MAX:
            raise SequenceExhausted(
                f"Koppel's invoice number sequence of connection {connection_id} has no "
                f"number left below {INT32_MAX} (Visma's largest)."
            )
        conn.execute(
            "INSERT INTO number_allocations"
            " (connection_id, document_type, teamleader_id, teamleader_number, visma_number)"
            " VALUES (%s, %s, %s, %s, %s)",
            [connection_id, document_type, document_id, teamleader_number, number],
        )
        conn.execute(
            "UPDATE number_sequences SET last_number = %s WHERE connection_id = %s",
            [number, connection_id],
        )
    return number
