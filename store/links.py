"""Links between Teamleader objects and the Visma objects they became."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from store.db import Db, run

#: ``visma_type`` of the Visma objects Koppel links to.
CUSTOMER = "customer"
LEDGER_ITEM = "ledger_item"


@dataclass(frozen=True)
class Link:
    teamleader_type: str
    teamleader_id: str
    visma_type: str
    visma_id: str
    visma_number: str | None
    fingerprint: str | None
    remaining: Decimal | None
    currency: str | None


_COLUMNS = (
    "teamleader_type, teamleader_id, visma_type, visma_id, visma_number, fingerprint,"
    " remaining, currency"
)


def get(db: Db, connection_id: uuid.UUID, teamleader_type: str, teamleader_id: str) -> Link | None:
    rows = run(
        db,
        f"SELECT {_COLUMNS} FROM links WHERE connection_id = %s AND teamleader_type = %s"
        " AND teamleader_id = %s",
        [connection_id, teamleader_type, teamleader_id],
    )
    return Link(**rows[0]) if rows else None


def of_documents(
    db: Db, connection_id: uuid.UUID, teamleader_type: str, teamleader_ids: Iterable[str]
) -> dict[str, Link]:
    """The links of many Teamleader objects of one type, by Teamleader id, in one statement
    (a backfill preview asks about every document and invoicee it found)."""
    rows = run(
        db,
        f"SELECT {_COLUMNS} FROM links WHERE connection_id = %s AND teamleader_type = %s"
        " AND teamleader_id = ANY(%s)",
        [connection_id, teamleader_type, list(teamleader_ids)],
    )
    return {str(row["teamleader_id"]): Link(**row) for row in rows}


def by_visma(db: Db, connection_id: uuid.UUID, visma_type: str, visma_id: str) -> Link | None:
    rows = run(
        db,
        f"SELECT {_COLUMNS} FROM links WHERE connection_id = %s AND visma_type = %s"
        " AND visma_id = %s",
        [connection_id, visma_type, visma_id.lower()],
    )
    return Link(**rows[0]) if rows else None


def by_visma_number(
    db: Db, connection_id: uuid.UUID, visma_type: str, visma_number: str
) -> Link | None:
    rows = run(
        db,
        f"SELECT {_COLUMNS} FROM links WHERE connection_id = %s AND visma_type = %s"
        " AND visma_number = %s ORDER BY created_at LIMIT 1",
        [connection_id, visma_type, visma_number],
    )
    return Link(**rows[0]) if rows else None


def remaining_by_visma_id(
    db: Db, connection_id: uuid.UUID, visma_type: str, visma_ids: Sequence[str] | None = None
) -> dict[str, Decimal | None]:
    """Visma id → the remaining amount Koppel last saw, for the linked objects of a type
    among ``visma_ids`` (all of them when None): one query for a whole poll round instead of
    one per ledger item, reading only the ids the round returned."""
    if visma_ids is None:
        sql, params = "", []
    else:
        sql, params = " AND visma_id = ANY(%s)", [list(visma_ids)]
    rows = run(
        db,
        "SELECT visma_id, remaining FROM links WHERE connection_id = %s AND visma_type = %s" + sql,
        [connection_id, visma_type, *params],
    )
    return {str(row["visma_id"]): row["remaining"] for row in rows}


def open_by_visma_id(
    db: Db, connection_id: uuid.UUID, visma_type: str
) -> dict[str, Decimal | None]:
    """Visma id → remaining amount of the linked objects not known to be settled (a
    remaining amount other than 0, or none recorded yet)."""
    rows = run(
        db,
        "SELECT visma_id, remaining FROM links WHERE connection_id = %s AND visma_type = %s"
        " AND (remaining IS NULL OR remaining <> 0) ORDER BY updated_at",
        [connection_id, visma_type],
    )
    return {str(row["visma_id"]).lower(): row["remaining"] for row in rows}


def save(db: Db, connection_id: uuid.UUID, link: Link) -> None:
    run(
        db,
        f"INSERT INTO links (connection_id, {_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (connection_id, teamleader_type, teamleader_id) DO UPDATE SET"
        " visma_type = EXCLUDED.visma_type, visma_id = EXCLUDED.visma_id,"
        " visma_number = EXCLUDED.visma_number, fingerprint = EXCLUDED.fingerprint,"
        " remaining = coalesce(links.remaining, EXCLUDED.remaining),"
        " currency = EXCLUDED.currency, updated_at = now()",
        [
            connection_id,
            link.teamleader_type,
            link.teamleader_id,
            link.visma_type,
            link.visma_id.lower(),
            link.visma_number,
            link.fingerprint,
            link.remaining,
            link.currency,
        ],
    )


def set_remaining(
    db: Db, connection_id: uuid.UUID, visma_type: str, visma_id: str, remaining: Decimal
) -> None:
    run(
        db,
        "UPDATE links SET remaining = %s, updated_at = now() WHERE connection_id = %s"
        " AND visma_type = %s AND visma_id = %s",
        [remaining, connection_id, visma_type, visma_id.lower()],
    )


def counts(db: Db, connection_id: uuid.UUID) -> dict[str, int]:
    """Teamleader type → how many of its objects are linked to Visma."""
    rows = run(
        db,
        "SELECT teamleader_type, count(*) AS n FROM links WHERE connection_id = %s GROUP BY 1",
        [connection_id],
    )
    return {str(row["teamleader_type"]): int(row["n"]) for row in rows}
