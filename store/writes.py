"""Exactly-once effects on APIs that have no idempotency keys (docs/architecture.md#exactly-once).

A write is guarded by a row in ``external_writes`` keyed by the business identity (for
example ``posting:<connection>:invoice:<teamleader id>``), and by a PostgreSQL advisory lock
on that key held for the whole attempt:

1. Take the lock (``pg_try_advisory_lock``). If another worker holds it, that worker is on
   this very document: :class:`Busy`, retry shortly. A worker that dies (even by SIGKILL)
   loses its database session, and PostgreSQL releases the lock at once — no lease timers.
2. ``done``: the effect exists; return its remote id.
3. ``in_flight``: an earlier attempt started the call and never learnt the outcome (timeout,
   5xx after sending, crash). Look the deterministic reference up remotely; if found, adopt
   it. Only if it is not there, call again — and, where the remote may list a new object
   only after a delay (``settle_s``), not before that long since the unclear attempt:
   until then :class:`NotListedYet`, and the message looks again later.
4. Mark ``in_flight`` (committed) before the call, ``done`` with the remote id after it. A
   definite refusal (4xx) marks it ``refused``: nothing was written, a later attempt may try
   again after the cause is fixed.
5. What the effect leaves in Koppel's own tables (the link to the Visma posting, a payment's
   new open amount) is written by ``record`` in the transaction that marks the row ``done``,
   sent as one pipeline: both or neither, one round trip and one commit (bench/cost.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from clients.errors import DataError
from config.errors import TryLater
from store.db import Conn, Pool


class Busy(TryLater):
    """Another worker holds this document right now; try again in a moment."""

    def __init__(self, key: str) -> None:
        super().__init__(f"another worker is handling {key}")
        self.key = key


class NotListedYet(TryLater):
    """An unclear attempt's object is not found yet, but may still show up: the remote lists
    new objects late. Look again later instead of writing a second one."""

    def __init__(self, key: str, retry_in_s: float) -> None:
        super().__init__(
            f"the earlier attempt of {key} is not in the remote's lists yet; looking again in "
            f"{retry_in_s:.0f} s before writing it again"
        )
        self.key = key
        self.retry_in_s = retry_in_s


@dataclass(frozen=True)
class WriteResult:
    remote_id: str
    #: True when this call created the remote object; False when it existed already
    #: (recorded earlier, or found by the lookup after an ambiguous attempt).
    created: bool


#: Writes what the effect leaves in Koppel's tables, given the connection and the remote id.
Record = Callable[[Conn, str], None]


@contextmanager
def document_lock(pool: Pool, key: str) -> Iterator[Conn]:
    """Hold the advisory lock of ``key`` on one pooled session, or raise :class:`Busy`."""
    with pool.connection() as conn:
        got = conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS got", [key]
        ).fetchone()
        if not got or not got["got"]:
            raise Busy(key)
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def state_of(conn: Conn, key: str) -> dict[str, object] | None:
    """The row of ``key``; ``age_s`` is the seconds since its state last changed."""
    return conn.execute(
        "SELECT state, remote_id, attempts, reference,"
        " extract(epoch FROM now() - updated_at)::float8 AS age_s"
        " FROM external_writes WHERE key = %s",
        [key],
    ).fetchone()


def write_once(
    conn: Conn,
    key: str,
    *,
    connection_id: uuid.UUID,
    kind: str,
    reference: str,
    lookup: Callable[[str], str | None],
    create: Callable[[], str],
    record: Record | None = None,
    settle_s: float = 0.0,
) -> WriteResult:
    """Run ``create`` at most once per ``key`` in effect; the caller holds ``document_lock``.

    ``lookup(reference)`` finds the remote object an earlier attempt may have made, by that
    attempt's reference (None when absent); ``create`` makes it and returns its id.
    Exceptions from ``create`` propagate after the row says what is known: a
    :class:`DataError` (a refusal) means nothing was written; anything else (a
    timeout, a 5xx, a crash) leaves the row in flight for the next attempt to look up.
    ``record`` runs whenever the effect is known to exist, also when an earlier attempt made
    it (its record may have been lost with a crash from before ``record`` was atomic).
    ``settle_s``: how long after an unclear attempt its object may still be missing from
    the remote's lists (:class:`NotListedYet` until then)."""
    # The first attempt (by far the most common) claims the key in the same statement that
    # finds it absent: one round trip less per write (bench/cost.py).
    claimed = conn.execute(
        "INSERT INTO external_writes (key, connection_id, kind, reference, state)"
        " VALUES (%s, %s, %s, %s, 'in_flight') ON CONFLICT (key) DO NOTHING RETURNING 1",
        [key, connection_id, kind, reference],
    ).fetchone()
    if claimed is not None:
        return _create(conn, key, create, record)
    row = state_of(conn, key)
    if row is not None and row["state"] == "done":
        remote_id = str(row["remote_id"])
        if record is not None:
            record(conn, remote_id)
        return WriteResult(remote_id, created=False)
    if row is not None and row["state"] == "in_flight":
        found = lookup(str(row["reference"]))
        if found is not None:
            _done(conn, key, found, "adopted after an unfinished attempt", record)
            return WriteResult(found, created=False)
        age_s = float(row["age_s"])  # type: ignore[arg-type]
        if age_s < settle_s:
            # Look again a few times within the bound (s), not at its end only.
            raise NotListedYet(key, min(settle_s - age_s, max(1.0, settle_s / 8)))
    conn.execute(
        "INSERT INTO external_writes (key, connection_id, kind, reference, state)"
        " VALUES (%s, %s, %s, %s, 'in_flight') ON CONFLICT (key) DO UPDATE SET"
        " state = 'in_flight', reference = EXCLUDED.reference,"
        " attempts = external_writes.attempts + 1, updated_at = now()",
        [key, connection_id, kind, reference],
    )
    return _create(conn, key, create, record)


def _create(conn: Conn, key: str, create: Callable[[], str], record: Record | None) -> WriteResult:
    """Make the remote object; the row (in flight now) says afterwards what is known."""
    try:
        remote_id = create()
    except DataError as refusal:
        _mark(conn, key, "refused", None, refusal.reason[:500])
        raise
    _done(conn, key, remote_id, None, record)
    return WriteResult(remote_id, created=True)


def _done(
    conn: Conn,
    key: str,
    remote_id: str,
    detail: str | None,
    record: Record | None,
) -> None:
    if record is None:
        _mark(conn, key, "done", remote_id, detail)
        return
    with conn.pipeline(), conn.transaction():
        _mark(conn, key, "done", remote_id, detail)
        record(conn, remote_id)


def _mark(conn: Conn, key: str, state: str, remote_id: str | None, detail: str | None) -> None:
    conn.execute(
        "UPDATE external_writes SET state = %s, remote_id = coalesce(%s, remote_id),"
        " detail = %s, updated_at = now() WHERE key = %s",
        [state, remote_id, detail, key],
    )
