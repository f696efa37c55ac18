"""Connections: one Teamleader department linked to one Visma company (DESIGN.md #1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class Connection:
    id: uuid.UUID
    name: str
    sandbox: bool
    teamleader_account_id: str | None
    teamleader_department_id: str
    visma_company_id: str | None
    sync_from: date
    poll_interval_s: int
    receivables_account: int
    invoice_number_rule: str
    credit_note_number_rule: str
    default_terms_of_payment_id: str | None
    active: bool
    #: Bumped whenever workers must re-read the connection's reference data.
    reference_changed_at: datetime


_COLUMNS = (
    "id, name, sandbox, teamleader_account_id, teamleader_department_id, visma_company_id, "
    "sync_from, poll_interval_s, receivables_account, invoice_number_rule, "
    "credit_note_number_rule, default_terms_of_payment_id, active, reference_changed_at"
)


class UnknownConnection(LookupError):
    pass


def create(
    pool: ConnectionPool,
    *,
    name: str,
    sandbox: bool,
    teamleader_department_id: str,
    sync_from: date,
    teamleader_account_id: str | None = None,
    visma_company_id: str | None = None,
    poll_interval_s: int = 900,
    default_terms_of_payment_id: str | None = None,
) -> Connection:
    """Create a connection, or update the one with the same name (``koppel connect`` again)."""
    with pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO connections (id, name, sandbox, teamleader_account_id,"
            " teamleader_department_id, visma_company_id, sync_from, poll_interval_s,"
            " default_terms_of_payment_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET sandbox = EXCLUDED.sandbox,"
            " teamleader_account_id = EXCLUDED.teamleader_account_id,"
            " teamleader_department_id = EXCLUDED.teamleader_department_id,"
            " visma_company_id = EXCLUDED.visma_company_id, sync_from = EXCLUDED.sync_from,"
            " poll_interval_s = EXCLUDED.poll_interval_s,"
            " default_terms_of_payment_id = EXCLUDED.default_terms_of_payment_id,"
            f" active = true RETURNING {_COLUMNS}",
            [
                uuid.uuid4(),
                name,
                sandbox,
                teamleader_account_id,
                teamleader_department_id,
                visma_company_id,
                sync_from,
                poll_interval_s,
                default_terms_of_payment_id,
            ],
        ).fetchone()
    assert row is not None
    return Connection(**row)


def get(pool: ConnectionPool, connection_id: uuid.UUID | str) -> Connection:
    with pool.connection() as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM connections WHERE id = %s", [str(connection_id)]
        ).fetchone()
    if row is None:
        raise UnknownConnection(f"no connection with id {connection_id}")
    return Connection(**row)


def find(pool: ConnectionPool, name_or_id: str) -> Connection:
    """By name or id, for the command line."""
    with pool.connection() as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM connections WHERE name = %s OR id::text = %s",
            [name_or_id, name_or_id],
        ).fetchone()
    if row is None:
        raise UnknownConnection(f"no connection named {name_or_id!r}")
    return Connection(**row)


def active(pool: ConnectionPool) -> list[Connection]:
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM connections WHERE active ORDER BY created_at, name"
        ).fetchall()
    return [Connection(**row) for row in rows]


def named(pool: ConnectionPool, name: str | None) -> list[Connection]:
    """The named connection (by name or id), or every active one: what a command's
    ``--connection`` option chooses."""
    return [find(pool, name)] if name else active(pool)


def update(pool: ConnectionPool, connection_id: uuid.UUID, **values: object) -> Connection:
    """Change settings columns (receivables_account, number rules, poll interval, ...)."""
    allowed = {
        "receivables_account",
        "invoice_number_rule",
        "credit_note_number_rule",
        "default_terms_of_payment_id",
        "poll_interval_s",
        "sync_from",
        "active",
        "visma_company_id",
    }
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)}")
    assignments = ", ".join(f"{name} = %s" for name in values)
    with pool.connection() as conn:
        conn.execute(
            # Any of these can change how a document translates: workers reload at once.
            f"UPDATE connections SET {assignments}, reference_changed_at = clock_timestamp()"
            " WHERE id = %s",
            [*values.values(), connection_id],
        )
    return get(pool, connection_id)


def reference_changed(pool: ConnectionPool, connection_ids: Iterable[uuid.UUID]) -> None:
    """Tell every worker to re-read these connections' reference data (mappings, the Visma
    chart, product categories) before the next document, instead of trusting its cache."""
    ids = sorted({str(connection_id) for connection_id in connection_ids})
    if not ids:
        return
    with pool.connection() as conn:
        conn.execute(
            "UPDATE connections SET reference_changed_at = clock_timestamp()"
            " WHERE id = ANY(%s::uuid[])",
            [ids],
        )
