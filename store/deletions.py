"""Teamleader objects deleted after Koppel linked them (migration 0012).

A posted document deleted in Teamleader is never silently kept in Visma: it is recorded
here once, raises one "needs attention" row naming the Visma ledger item to reverse, and
its history says so. A deleted customer's Visma record is kept, and its history notes the
deletion. See docs/architecture.md#deletions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from contracts import keys, queues
from store import document_history, failures, links
from store.db import Db, run, session
from store.links import Link

#: Teamleader type → the queue its attention is listed under (``koppel dlq``).
QUEUE_OF = {"invoice": queues.INVOICES, "credit_note": queues.CREDIT_NOTES}
#: The linked Teamleader types a check looks for.
DOCUMENT_TYPES = ("invoice", "credit_note")
CUSTOMER_TYPES = ("contact", "company")

EVENT = "deleted in Teamleader"

#: ``connections.on_teamleader_delete``: list the deletion as needing attention, or post
#: the reversing credit in Visma.
ATTENTION = "attention"
REVERSE = "reverse"
POLICIES = (ATTENTION, REVERSE)


def policy(db: Db, connection_id: uuid.UUID) -> str:
    rows = run(db, "SELECT on_teamleader_delete FROM connections WHERE id = %s", [connection_id])
    return str(rows[0]["on_teamleader_delete"]) if rows else ATTENTION


def set_policy(db: Db, connection_id: uuid.UUID, value: str) -> None:
    if value not in POLICIES:
        raise ValueError(f"on_teamleader_delete is attention or reverse, not {value!r}")
    run(
        db,
        "UPDATE connections SET on_teamleader_delete = %s WHERE id = %s",
        [value, connection_id],
    )


def linked(db: Db, connection_id: uuid.UUID, teamleader_type: str) -> list[str]:
    """Teamleader ids of this type Koppel linked and has not yet found deleted."""
    rows = run(
        db,
        "SELECT l.teamleader_id FROM links l WHERE l.connection_id = %s"
        " AND l.teamleader_type = %s AND NOT EXISTS (SELECT 1 FROM teamleader_deletions d"
        " WHERE d.connection_id = l.connection_id AND d.teamleader_type = l.teamleader_type"
        " AND d.teamleader_id = l.teamleader_id) ORDER BY l.teamleader_id",
        [connection_id, teamleader_type],
    )
    return [str(row["teamleader_id"]) for row in rows]


def teamleader_number(db: Db, connection_id: uuid.UUID, kind: str, id_: str) -> str | None:
    """The Teamleader number the consumers recorded when they posted the document."""
    rows = run(
        db,
        "SELECT detail ->> 'teamleader_number' AS number FROM history WHERE connection_id = %s"
        " AND document_type = %s AND document_id = %s AND detail ? 'teamleader_number'"
        " ORDER BY at DESC LIMIT 1",
        [connection_id, kind, id_],
    )
    return str(rows[0]["number"]) if rows else None


def notice(
    db: Db, connection_id: uuid.UUID, teamleader_type: str, teamleader_id: str, noticed_by: str
) -> bool:
    """Record that Teamleader no longer has this object; True the first time only.

    A posted document gets a "needs attention" row (``failures``, status attention) naming
    the Visma ledger item to reverse; every deletion gets a history line."""
    with session(db) as conn, conn.transaction():
        link = links.get(conn, connection_id, teamleader_type, teamleader_id)
        inserted = conn.execute(
            "INSERT INTO teamleader_deletions (connection_id, teamleader_type, teamleader_id,"
            " visma_type, visma_id, visma_number, noticed_by) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING teamleader_id",
            [
                connection_id,
                teamleader_type,
                teamleader_id,
                link.visma_type if link else None,
                link.visma_id if link else None,
                link.visma_number if link else None,
                noticed_by,
            ],
        ).fetchone()
        if inserted is None:
            return False
        number = teamleader_number(conn, connection_id, teamleader_type, teamleader_id)
        reverse = policy(conn, connection_id) == REVERSE
        detail = _detail(teamleader_type, number, link, noticed_by, reverse)
        document_history.record(conn, connection_id, teamleader_type, teamleader_id, EVENT, detail)
        if link is not None and link.visma_type == links.LEDGER_ITEM and not reverse:
            failures.record(
                conn,
                connection_id=connection_id,
                queue=QUEUE_OF.get(teamleader_type, queues.INVOICES),
                document_type=teamleader_type,
                document_id=teamleader_id,
                dedupe_key=keys.deletion(connection_id, teamleader_type, teamleader_id),
                message={
                    "connection_id": str(connection_id),
                    "teamleader_type": teamleader_type,
                    "teamleader_id": teamleader_id,
                    "visma_ledger_item_id": link.visma_id,
                    "visma_number": link.visma_number,
                },
                error_class="DeletedInTeamleader",
                reason=str(detail["detail"]),
                attempts=1,
                status="attention",
            )
        return True


def _detail(
    kind: str, number: str | None, link: Link | None, noticed_by: str, reverse: bool
) -> dict[str, str]:
    noun = kind.replace("_", " ")
    name = f"Teamleader {noun} {number}" if number else f"Teamleader {noun}"
    if link is None:
        text = f"{name} was deleted in Teamleader before Koppel posted it; nothing is in Visma."
    elif link.visma_type == links.LEDGER_ITEM and reverse:
        text = (
            f"{name} was deleted in Teamleader after Koppel posted it as Visma invoice"
            f" {link.visma_number} (customer ledger item {link.visma_id}); the connection"
            " says reverse, so Koppel posts the reversing credit in Visma."
        )
    elif link.visma_type == links.LEDGER_ITEM:
        text = (
            f"{name} was deleted in Teamleader after Koppel posted it as Visma invoice"
            f" {link.visma_number} (customer ledger item {link.visma_id}); Visma still books"
            " its revenue, VAT and receivable: reverse that ledger item in Visma (a credit"
            " for it)."
        )
    else:
        text = (
            f"{name} was deleted in Teamleader; its Visma customer"
            f" {link.visma_number or link.visma_id} is kept (documents posted for it stay)."
        )
    out = {"detail": text, "noticed_by": noticed_by}
    if link is not None:
        out |= {"visma_id": link.visma_id, "visma_number": link.visma_number or ""}
        if link.visma_type == links.LEDGER_ITEM:
            out["visma_ledger_item_id"] = link.visma_id
    if number:
        out["teamleader_number"] = number
    return out


def found(db: Db, connection_id: uuid.UUID, teamleader_type: str) -> list[str]:
    """Teamleader ids of this type recorded as deleted."""
    rows = run(
        db,
        "SELECT teamleader_id FROM teamleader_deletions WHERE connection_id = %s"
        " AND teamleader_type = %s ORDER BY noticed_at",
        [connection_id, teamleader_type],
    )
    return [str(row["teamleader_id"]) for row in rows]


def numbers_of_deleted(db: Db, connection_id: uuid.UUID) -> set[str]:
    """Visma invoice numbers held by posted documents Teamleader has since deleted."""
    rows = run(
        db,
        "SELECT visma_number FROM teamleader_deletions WHERE connection_id = %s"
        " AND visma_type = %s AND visma_number IS NOT NULL",
        [connection_id, links.LEDGER_ITEM],
    )
    return {str(row["visma_number"]) for row in rows}


def visma_numbers_in_use(db: Db, connection_id: uuid.UUID, candidates: Sequence[str]) -> set[str]:
    rows = run(
        db,
        "SELECT visma_number FROM links WHERE connection_id = %s AND visma_number = ANY(%s)",
        [connection_id, list(candidates)],
    )
    return {str(row["visma_number"]) for row in rows}


def check_due(db: Db, connection_id: uuid.UUID, interval_s: float, now: datetime) -> bool:
    rows = run(
        db, "SELECT checked_at FROM deletion_checks WHERE connection_id = %s", [connection_id]
    )
    return not rows or (now - rows[0]["checked_at"]).total_seconds() >= interval_s


def checked(db: Db, connection_id: uuid.UUID, at: datetime) -> None:
    run(
        db,
        "INSERT INTO deletion_checks (connection_id, checked_at) VALUES (%s, %s)"
        " ON CONFLICT (connection_id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
        [connection_id, at],
    )
