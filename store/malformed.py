"""Teamleader list items that did not fit: recorded as failures, closed when a later
version fits (issue 13, point 3; ``clients/teamleader/malformed.py``).

A malformed item is no dead letter (no message was ever made of it), so its row has status
``attention``, error class :data:`MALFORMED`, the raw item as its message (``koppel dlq
show``), and one open row per document: the key is the document, so the overlap reading it
again every round refreshes that row instead of adding one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from clients.teamleader.malformed import Malformed
from store import document_history, failures
from store.db import Pool

#: The error class of a malformed list item's failure row.
MALFORMED = "MalformedDocument"


def key(connection_id: uuid.UUID, document_type: str, malformed: Malformed) -> str:
    """One open failure per document (per raw item, when it has no usable id)."""
    digest = hashlib.sha256(repr(malformed.raw).encode("utf-8", "replace")).hexdigest()
    name = malformed.document_id or f"unnamed:{digest[:16]}"
    return f"malformed:{connection_id}:{document_type}:{name}"


def record(
    pool: Pool,
    connection_id: uuid.UUID,
    *,
    queue: str,
    document_type: str,
    what: str,
    bad: Sequence[Malformed],
) -> None:
    """A failure (and a history entry) for each item; ``what`` names the list ("invoice")."""
    for item in bad:
        named = item.document_id or "without a usable id"
        reason = (
            f"Teamleader {what} {named} does not fit what Koppel reads, so it was not "
            f"synced: {item.reason}. Correct it in Teamleader; its next version flows normally "
            "and closes this failure."
        )
        failures.record(
            pool,
            connection_id=connection_id,
            queue=queue,
            document_type=document_type,
            document_id=item.document_id,
            dedupe_key=key(connection_id, document_type, item),
            message={"malformed": True, "fields": list(item.fields), "raw": item.raw},
            error_class=MALFORMED,
            reason=reason,
            attempts=1,
            status="attention",
        )
        if item.document_id is not None:
            document_history.record(
                pool,
                connection_id,
                document_type,
                item.document_id,
                "malformed",
                {"fields": list(item.fields), "reason": item.reason},
            )


def close(
    pool: Pool, connection_id: uuid.UUID, document_type: str, document_ids: Sequence[str]
) -> list[str]:
    """Resolve the open malformed failures of documents read fine now; the ids closed."""
    if not document_ids:
        return []
    with pool.connection() as conn:
        rows = conn.execute(
            "UPDATE failures SET status = 'resolved', last_seen = now()"
            " WHERE connection_id = %s AND document_type = %s AND error_class = %s"
            " AND status IN ('open', 'attention') AND document_id = ANY(%s)"
            " RETURNING document_id",
            [connection_id, document_type, MALFORMED, list(document_ids)],
        ).fetchall()
    closed = [str(row["document_id"]) for row in rows]
    document_history.record_many(
        pool,
        connection_id,
        [(document_type, doc, "malformed_resolved", {}) for doc in closed],
    )
    return closed
