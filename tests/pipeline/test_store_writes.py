"""Exactly-once writes (``store.writes``) on the test database: what an effect leaves in
Koppel's tables (here, as in the consumers, a link) is written with its ``done`` mark, both
or neither.

``create`` and ``lookup`` stand for the remote API here (they return ids); the database is
the real one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from store import connections, links
from store.links import Link
from store.writes import Record, WriteResult, document_lock, state_of, write_once


class RecordFailed(Exception):
    pass


def a_connection(pool: ConnectionPool) -> uuid.UUID:
    return connections.create(
        pool,
        name=f"writes {uuid.uuid4()}",
        sandbox=True,
        teamleader_department_id=str(uuid.uuid4()),
        sync_from=date(2026, 1, 1),
    ).id


def link_to(document_id: str, remote_id: str) -> Link:
    return Link("invoice", document_id, links.LEDGER_ITEM, remote_id, "7", None, None, "EUR")


def linked(pool: ConnectionPool, connection_id: uuid.UUID, document_id: str) -> str | None:
    link = links.get(pool, connection_id, "invoice", document_id)
    return link.visma_id if link is not None else None


def saving_link(connection_id: uuid.UUID, document_id: str) -> Record:
    """The record a posting makes: the document's link to the remote id."""

    def record(db: psycopg.Connection, remote_id: str) -> None:
        links.save(db, connection_id, link_to(document_id, remote_id))

    return record


def state(pool: ConnectionPool, key: str) -> str | None:
    with pool.connection() as conn:
        row = state_of(conn, key)
    return str(row["state"]) if row is not None else None


def attempt(
    pool: ConnectionPool,
    key: str,
    connection_id: uuid.UUID,
    *,
    reference: str,
    lookup: Callable[[str], str | None],
    create: Callable[[], str],
    record: Record,
) -> WriteResult:
    """One attempt at the write, as a consumer makes it: under the document's lock."""
    with document_lock(pool, key) as conn:
        return write_once(
            conn,
            key,
            connection_id=connection_id,
            kind="invoice_posting",
            reference=reference,
            lookup=lookup,
            create=create,
            record=record,
        )


def test_a_link_that_cannot_be_written_leaves_the_write_in_flight_and_the_next_attempt_adopts_it(
    pool: ConnectionPool,
) -> None:
    connection_id = a_connection(pool)
    document_id = str(uuid.uuid4())
    key = f"posting:{connection_id}:invoice:{document_id}"
    made: list[str] = []

    def create() -> str:
        made.append("remote-1")
        return "remote-1"

    def failing_record(db: psycopg.Connection, remote_id: str) -> None:
        links.save(db, connection_id, link_to(document_id, remote_id))
        raise RecordFailed("the link could not be written")

    # Given a write whose effect was made, but whose record failed
    with pytest.raises(RecordFailed):
        attempt(
            pool,
            key,
            connection_id,
            reference="ref-1",
            lookup=lambda reference: None,
            create=create,
            record=failing_record,
        )
    # Then neither the done mark nor the record was kept: the row says "in flight"
    assert state(pool, key) == "in_flight"
    assert linked(pool, connection_id, document_id) is None

    # When the next attempt runs, it looks the effect up instead of making it again
    result = attempt(
        pool,
        key,
        connection_id,
        reference="ref-1",
        lookup=lambda reference: "remote-1" if reference == "ref-1" else None,
        create=create,
        record=saving_link(connection_id, document_id),
    )
    # Then the effect was made once, adopted, and recorded once with its done mark
    assert made == ["remote-1"]
    assert (result.remote_id, result.created) == ("remote-1", False)
    assert state(pool, key) == "done"
    assert linked(pool, connection_id, document_id) == "remote-1"


def test_a_first_write_saves_its_link_with_the_done_mark(
    pool: ConnectionPool,
) -> None:
    connection_id = a_connection(pool)
    document_id = str(uuid.uuid4())
    key = f"posting:{connection_id}:invoice:{document_id}"
    result = attempt(
        pool,
        key,
        connection_id,
        reference="ref-2",
        lookup=lambda reference: None,
        create=lambda: "remote-2",
        record=saving_link(connection_id, document_id),
    )
    assert (result.remote_id, result.created) == ("remote-2", True)
    assert state(pool, key) == "done"
    assert linked(pool, connection_id, document_id) == "remote-2"
