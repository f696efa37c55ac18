"""Connections: one Teamleader department linked to one Visma company
(docs/architecture.md#the-flow).

A connection is active (synced), paused (not polled; its queued messages are acknowledged
without effect until it is resumed) or removed (stopped for good: its tokens and cursors
are deleted, its history, links and failures stay readable; see migration 0006).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from psycopg.types.json import Jsonb

from config.errors import NeedsPerson
from store.db import Db, Pool, session

State = Literal["active", "paused", "removed"]


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
    #: Set by ``koppel connections pause``, cleared by ``resume``.
    paused_at: datetime | None = None
    #: Set by ``koppel connections remove``; never cleared.
    removed_at: datetime | None = None
    #: "attention" or "post": a credit of an invoice dated before ``sync_from`` (0013).
    credits_of_earlier_invoices: str = "attention"
    #: "labels" or "flipped": how ``currency_exchange_rate`` is read (migration 0013).
    exchange_rate_reading: str = "labels"
    #: A document dated in a period Visma has locked: ``refuse`` (dead-letter it, naming the
    #: lock) or ``post_on_first_open_day`` (its voucher dated the day after the lock).
    locked_period_policy: str = "refuse"

    @property
    def state(self) -> State:
        if self.removed_at is not None:
            return "removed"
        return "paused" if self.paused_at is not None else "active"

    @property
    def syncing(self) -> bool:
        """Polled, and its messages applied."""
        return self.state == "active"


_COLUMNS = (
    "id, name, sandbox, teamleader_account_id, teamleader_department_id, visma_company_id, "
    "sync_from, poll_interval_s, receivables_account, invoice_number_rule, "
    "credit_note_number_rule, default_terms_of_payment_id, active, reference_changed_at, "
    "paused_at, removed_at, credits_of_earlier_invoices, exchange_rate_reading, "
    "locked_period_policy"
)

#: The values of ``locked_period_policy`` (store/migrations/0010_visma_as_it_is.sql).
LOCKED_PERIOD_POLICIES = ("refuse", "post_on_first_open_day")

#: The shortest id prefix a command accepts (shorter ones would match by chance).
MIN_ID_PREFIX = 4
#: An id or the start of one, as a person copies it (with the "…" a short id shows).
_ID_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]*")


class UnknownConnection(LookupError, NeedsPerson):
    """No connection by that name or id (or it was removed): a person must name another."""


class AmbiguousConnection(UnknownConnection):
    """An id prefix that starts more than one connection's id."""


def create(
    pool: Pool,
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
            # A removed connection gave its name back (its row stays): a new one is made.
            " ON CONFLICT (name) WHERE removed_at IS NULL DO UPDATE SET"
            " sandbox = EXCLUDED.sandbox,"
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


def get(pool: Pool, connection_id: uuid.UUID | str) -> Connection:
    with pool.connection() as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM connections WHERE id = %s", [str(connection_id)]
        ).fetchone()
    if row is None:
        raise UnknownConnection(f"no connection with id {connection_id}")
    return Connection(**row)


def find(pool: Pool, name_or_id: str) -> Connection:
    """By name, id or the start of an id (at least :data:`MIN_ID_PREFIX` characters, a
    short id's "…" allowed), for the command line. Removed connections are found too (their
    history stays readable); a name held by a removed and a current one means the current
    one."""
    text = name_or_id.strip()
    prefix = text.lower().rstrip(".…")
    if len(prefix) < MIN_ID_PREFIX or not _ID_PREFIX.fullmatch(prefix):
        prefix = ""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM connections WHERE name = %(text)s"
            " OR (%(prefix)s <> '' AND id::text LIKE %(prefix)s || '%%')"
            " ORDER BY removed_at IS NOT NULL, removed_at DESC, created_at",
            {"text": text, "prefix": prefix},
        ).fetchall()
    found = [Connection(**row) for row in rows]
    by_name = [c for c in found if c.name == text]
    if by_name:
        return by_name[0]
    # A prefix of a current connection's id means that one, not a removed one's.
    current = [c for c in found if c.removed_at is None] or found
    if len(current) == 1:
        return current[0]
    if current:
        ids = ", ".join(f"{c.id} ({c.name})" for c in current)
        raise AmbiguousConnection(
            f"{text!r} starts the ids of {len(current)} connections ({ids}): give more of it"
        )
    names = ", ".join(c.name for c in active(pool)) or "none yet"
    raise UnknownConnection(
        f"there is no connection named {text!r} or with such an id (connections: {names})"
    )


def active(pool: Pool) -> list[Connection]:
    """Every connection that is not removed: paused ones too (they are still configured;
    pollers and consumers skip them)."""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM connections WHERE active AND removed_at IS NULL"
            " ORDER BY created_at, name"
        ).fetchall()
    return [Connection(**row) for row in rows]


def named(pool: Pool, name: str | None) -> list[Connection]:
    """The named connection (by name or id), or every active one: what a command's
    ``--connection`` option chooses."""
    return [find(pool, name)] if name else active(pool)


def update(pool: Pool, connection_id: uuid.UUID, **values: object) -> Connection:
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
        "credits_of_earlier_invoices",
        "exchange_rate_reading",
        "locked_period_policy",
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


def reference_changed(pool: Pool, connection_ids: Iterable[uuid.UUID]) -> None:
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


# -- state: pause, resume, remove ----------------------------------------------------------
#: The detail of the ``skipped`` outcome a consumer records for a message of a paused or
#: removed connection (``koppel history`` shows it).
SKIPPED_DETAIL: dict[State, str] = {
    "paused": "connection paused",
    "removed": "connection removed",
}

#: The poller's stream (``producers/poller.py``) that reads each kind of message again, and
#: from which remote moment: a document's version is its ``updated_at``. A payment's is an
#: amount, and when its Visma ledger item changed is not stored: NULL, so the stream reads
#: again from ``sync_from`` (a message only for items whose remaining amount is not the one
#: Koppel saw). Our clock cannot stand in for Visma's, which may be behind it.
_REREAD = (
    "CASE WHEN document_type = 'invoice' THEN 'invoices'"
    " WHEN document_type = 'credit_note' THEN 'credit_notes'"
    " WHEN document_id LIKE 'contact:%%' THEN 'contacts'"
    " WHEN document_id LIKE 'company:%%' THEN 'companies'"
    " ELSE 'visma_ledger_items' END AS stream,"
    " CASE WHEN document_type = 'payment' THEN NULL"
    " ELSE version::timestamptz END AS since"
)


@dataclass(frozen=True)
class Listed:
    connection: Connection
    #: The last successful poll of any of its streams (None: never, or removed).
    last_poll: datetime | None


@dataclass(frozen=True)
class Removed:
    connection: Connection
    tokens_deleted: int
    #: Messages still waiting for an outcome, finished now as skipped.
    messages_skipped: int
    #: What stays readable: history events, links, failures.
    kept: dict[str, int]


def listing(pool: Pool, *, include_removed: bool = False) -> list[Listed]:
    """Every connection (removed ones too when asked) with its last successful poll."""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS}, (SELECT max(cursors.last_success_at) FROM cursors"
            " WHERE cursors.connection_id = connections.id) AS last_poll FROM connections"
            " WHERE %s OR removed_at IS NULL ORDER BY created_at, name",
            [include_removed],
        ).fetchall()
    out = []
    for row in rows:
        last_poll = row.pop("last_poll")
        out.append(Listed(Connection(**row), last_poll))
    return out


def state_of(db: Db, connection_id: uuid.UUID, *, lock: bool = False) -> State | None:
    """The connection's state as stored now (a caller's Connection may be a round old);
    None when there is no such connection. ``lock``: the row is locked (FOR SHARE) until
    the caller's transaction ends, so a resume or remove (which update it) waits for the
    caller, or the caller for them."""
    with session(db) as conn:
        row = conn.execute(
            "SELECT paused_at, removed_at FROM connections WHERE id = %s"
            + (" FOR SHARE" if lock else ""),
            [connection_id],
        ).fetchone()
    if row is None:
        return None
    if row["removed_at"] is not None:
        return "removed"
    return "paused" if row["paused_at"] is not None else "active"


def poll_lock_key(connection_id: uuid.UUID) -> str:
    """The advisory lock a poller holds for a round of the connection."""
    return f"poll:{connection_id}"


def pause(pool: Pool, connection_id: uuid.UUID) -> bool:
    """Pause an active connection; False when it was paused or removed already."""
    with pool.connection() as conn:
        changed = conn.execute(
            "UPDATE connections SET paused_at = clock_timestamp()"
            " WHERE id = %s AND paused_at IS NULL AND removed_at IS NULL",
            [connection_id],
        ).rowcount
    return changed == 1


def resume(pool: Pool, connection_id: uuid.UUID) -> int | None:
    """Resume a paused connection, and have the poller read again what the consumers
    skipped while it was paused; the number of such messages, or None when it was not
    paused (or is removed).

    A skipped message has an outcome, so the poller would never publish its version again,
    and its stream's cursor has moved past it: its outcome is deleted (the "skipped" event
    stays in the history) and the cursor moved back to it (:data:`_REREAD`)."""
    with pool.connection() as conn, conn.transaction():
        # First, so the row is locked: a consumer skipping a message right now
        # (state_of(lock=True)) has committed its outcome before the scan below, or sees
        # the connection resumed and applies the message.
        resumed = conn.execute(
            "UPDATE connections SET paused_at = NULL"
            " WHERE id = %s AND paused_at IS NOT NULL AND removed_at IS NULL",
            [connection_id],
        ).rowcount
        if resumed != 1:
            return None
        rows = conn.execute(
            "WITH skipped AS (DELETE FROM messages WHERE connection_id = %s"
            " AND outcome = 'skipped' AND detail = %s"
            " RETURNING document_type, document_id, version, published_at)"
            f" SELECT stream, min(since) AS since, count(*) AS n FROM (SELECT {_REREAD}"
            " FROM skipped) AS reread GROUP BY stream",
            [connection_id, SKIPPED_DETAIL["paused"]],
        ).fetchall()
        for row in rows:
            # Never forward (NULL: from sync_from, where a cursor without one reads anyway).
            conn.execute(
                "UPDATE cursors SET watermark = %(since)s WHERE connection_id = %(id)s"
                " AND stream = %(stream)s"
                " AND (%(since)s::timestamptz IS NULL OR watermark > %(since)s)",
                {"since": row["since"], "id": connection_id, "stream": row["stream"]},
            )
    return sum(int(row["n"]) for row in rows)


def remove(pool: Pool, connection_id: uuid.UUID) -> Removed | None:
    """Stop syncing the connection for good: mark it removed, delete its tokens and cursors,
    finish its waiting messages as skipped; keep its history, links and failures. None when
    it was removed already.

    A soft delete (see migration 0006 for why): the row stays, so everything that names
    the connection stays readable and consistent."""
    with pool.connection() as conn, conn.transaction():
        # Waits for a round in progress to end, and keeps new ones from starting until this
        # commits; a round that starts after it reads the connection removed.
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [poll_lock_key(connection_id)],
        )
        removed = conn.execute(
            "UPDATE connections SET removed_at = clock_timestamp(), active = false"
            " WHERE id = %s AND removed_at IS NULL",
            [connection_id],
        ).rowcount
        if removed != 1:
            return None
        tokens = conn.execute("DELETE FROM tokens WHERE connection_id = %s", [connection_id])
        conn.execute("DELETE FROM cursors WHERE connection_id = %s", [connection_id])
        # Nothing waits for them any more (`koppel sync`, status); when a consumer gets one,
        # its outcome is there already and it acknowledges it without effect.
        skipped = conn.execute(
            "WITH finished AS (UPDATE messages SET outcome = 'skipped', detail = %(detail)s,"
            " finished_at = now() WHERE connection_id = %(id)s AND outcome IS NULL"
            " RETURNING document_type, document_id)"
            " INSERT INTO history (connection_id, document_type, document_id, event, detail)"
            " SELECT %(id)s, document_type, document_id, 'skipped', %(facts)s FROM finished",
            {
                "id": connection_id,
                "detail": SKIPPED_DETAIL["removed"],
                "facts": Jsonb({"detail": SKIPPED_DETAIL["removed"]}),
            },
        )
        kept = conn.execute(
            "SELECT (SELECT count(*) FROM history WHERE connection_id = %(id)s) AS history,"
            " (SELECT count(*) FROM links WHERE connection_id = %(id)s) AS links,"
            " (SELECT count(*) FROM failures WHERE connection_id = %(id)s) AS failures",
            {"id": connection_id},
        ).fetchone()
    assert kept is not None
    return Removed(
        get(pool, connection_id),
        tokens_deleted=tokens.rowcount,
        messages_skipped=skipped.rowcount,
        kept={name: int(value) for name, value in kept.items()},
    )
