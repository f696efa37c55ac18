"""Invoice numbers as accounts have them (issue 13, point 2): a number the rule cannot
represent gets one from Koppel's sequence in PostgreSQL, once per document, never colliding
with the rules' numbers or each other."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg_pool import ConnectionPool

from config import Settings
from consumers.app import get_broker
from contracts import queues
from ops.connect.connecting import Connected
from producers.poller import CREDIT_NOTES, INVOICES, poll_connection
from store import connections, links, numbers
from store.numbers import SEQUENCE_START
from tests.conftest import Sandbox
from tests.pipeline.support import (
    connection_clients,
    consumers_running,
    summary,
    teamleader_part,
    wait_settled,
)
from tests.teamleader.support import control
from translation.numbers import free_for_koppel, koppel_numbers, rule_number

INVOICE_RULE = "{year}{number:05d}"
CREDIT_RULE = "{year}9{number:04d}"


def visma_number(
    pool: ConnectionPool, connection_id: uuid.UUID, kind: str, doc_id: str, number: str
) -> int:
    """The Visma number the consumer gives a document (``consumers/postings.py``)."""
    if not koppel_numbers(kind, number, INVOICE_RULE, CREDIT_RULE):
        rule = INVOICE_RULE if kind == "invoice" else CREDIT_RULE
        found = rule_number(number, rule)
        assert found is not None
        return found
    with pool.connection() as conn:
        return numbers.allocate(
            conn,
            connection_id,
            kind,
            doc_id,
            number,
            acceptable=lambda n: free_for_koppel(n, INVOICE_RULE, CREDIT_RULE),
        )


fiscal_year_names = st.one_of(
    st.integers(min_value=2000, max_value=2099).map(str),
    st.integers(min_value=2000, max_value=2099).map(lambda y: f"FY{y}"),
    st.integers(min_value=2000, max_value=2098).map(lambda y: f"{y}-{y + 1}"),
    st.integers(min_value=0, max_value=99).map(lambda y: f"Boekjaar {y:02d}"),
    st.text(
        st.characters(blacklist_characters="/", blacklist_categories=("Cs", "Cc")),
        min_size=1,
        max_size=12,
    ).filter(lambda t: t.strip() != ""),
)
sequences = st.tuples(
    fiscal_year_names,
    st.integers(min_value=1, max_value=10**8),  # a start number
    st.integers(min_value=1, max_value=30),  # documents in it
)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    invoices=st.lists(sequences, min_size=1, max_size=3),
    credit_notes=st.lists(sequences, min_size=1, max_size=3),
    order=st.randoms(use_true_random=False),
)
def test_property_every_document_gets_one_visma_number_and_numbers_never_collide(
    connected: Connected,
    pool: ConnectionPool,
    invoices: list[tuple[str, int, int]],
    credit_notes: list[tuple[str, int, int]],
    order: Any,
) -> None:
    documents = [
        (kind, str(uuid.uuid4()), f"{name} / {start + i}")
        for kind, sequence_list in (("invoice", invoices), ("credit_note", credit_notes))
        for name, start, count in sequence_list
        for i in range(count)
    ]
    # Teamleader numbers are unique per kind: drop repeats the strategy may draw.
    documents = list(
        {(kind, number): (kind, id_, number) for kind, id_, number in documents}.values()
    )
    order.shuffle(documents)  # invoices and credit notes interleaved
    given_numbers = {
        id_: visma_number(pool, connected.connection.id, kind, id_, number)
        for kind, id_, number in documents
    }
    values = list(given_numbers.values())
    assert len(set(values)) == len(values), "two documents share a Visma number"
    assert all(0 < n <= 2**31 - 1 for n in values)
    # And asked again (a retry, a redelivery), each document keeps its number.
    for kind, id_, number in documents:
        assert visma_number(pool, connected.connection.id, kind, id_, number) == given_numbers[id_]
    with pool.connection() as conn:
        allocated = conn.execute("SELECT visma_number FROM number_allocations").fetchall()
    everyone = [r["visma_number"] for r in allocated]
    assert len(set(everyone)) == len(everyone)
    assert all(n >= SEQUENCE_START for n in everyone)


def test_two_workers_racing_for_one_document_get_one_number_and_for_two_get_two(
    connected: Connected, pool: ConnectionPool
) -> None:
    results: dict[str, list[int]] = {"same": [], "other": []}
    barrier = threading.Barrier(8)

    def allocate(document_id: str, bucket: str) -> None:
        barrier.wait()
        with pool.connection() as conn:
            results[bucket].append(
                numbers.allocate(conn, connected.connection.id, "invoice", document_id, "FY26 / 1")
            )

    threads = [threading.Thread(target=allocate, args=("doc-1", "same")) for _ in range(4)]
    threads += [threading.Thread(target=allocate, args=(f"doc-{i + 2}", "other")) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(results["same"])) == 1
    assert len(set(results["other"])) == 4
    assert results["same"][0] not in results["other"]


# -- through the pipeline --------------------------------------------------------------------
@pytest.fixture
def account(connected: Connected, pool: ConnectionPool, sandbox: Sandbox) -> Iterator[Connected]:
    part = {**teamleader_part(), "invoices": [], "creditNotes": []}
    control(sandbox, "reset", part)
    yield connected


def book(sandbox: Sandbox, connected: Connected, on: str) -> dict[str, Any]:
    department = connected.department.id
    rate = next(
        t["id"]
        for t in teamleader_part()["taxRates"]
        if t["department"]["id"] == department and t["description"] == "21%"
    )
    company = teamleader_part()["companies"][0]
    body = {
        "department_id": department,
        "customer": {"type": "company", "id": company["id"]},
        "lines": [{"description": "Advies", "quantity": 1, "unit_price": 100, "tax_rate_id": rate}],
        "book_on": on,
    }
    return control(sandbox, "invoices", body)


def number_as(sandbox: Sandbox, connected: Connected, kind: str, name: str, start: int) -> None:
    body = {"department_id": connected.department.id, "kind": kind, "year": 2026}
    control(sandbox, "numbering", body | {"name": name, "start": start})


@pytest.mark.usefixtures("checked_runtime")
def test_named_fiscal_years_renumbered_and_colliding_sequences_all_post_under_distinct_numbers(
    account: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    # Given an invoice numbered "FY2026 / 3", one renumbered into the credit-note rule's
    # range ("2026 / 90001" is 202690001, credit note "2026 / 1"'s number) and credit notes
    number_as(sandbox, account, "invoices", "FY2026", 3)
    named = book(sandbox, account, "2026-03-02")
    number_as(sandbox, account, "invoices", "2026", 90001)
    high = book(sandbox, account, "2026-03-03")
    number_as(sandbox, account, "creditNotes", "2026", 1)
    credit = control(sandbox, f"invoices/{named['id']}/credit", {"on": "2026-03-04"})
    number_as(sandbox, account, "creditNotes", "Boekjaar 26", 1)
    other_credit = control(sandbox, f"invoices/{high['id']}/credit", {"on": "2026-03-05"})
    assert (named["invoice_number"], high["invoice_number"]) == ("FY2026 / 3", "2026 / 90001")
    assert (credit["credit_note_number"], other_credit["credit_note_number"]) == (
        "2026 / 1",
        "Boekjaar 26 / 1",
    )
    connection = connections.get(pool, account.connection.id)
    # When the invoices, then the credit notes, are polled and consumed
    with (
        consumers_running(queues.INVOICES, queues.CREDIT_NOTES, queues.CONTACTS),
        connection_clients(settings, pool, connection) as clients,
    ):
        for stream in (INVOICES, CREDIT_NOTES):
            poll_connection(settings, pool, get_broker(), connection, clients, streams=(stream,))
            wait_settled(pool, timeout_s=180)
    # Then all four are posted, each under its own number, none twice
    found = {
        doc["id"]: links.get(pool, account.connection.id, kind, doc["id"])
        for kind, doc in (
            ("invoice", named),
            ("invoice", high),
            ("credit_note", credit),
            ("credit_note", other_credit),
        )
    }
    assert all(link is not None for link in found.values()), found
    visma_numbers = {doc_id: int(link.visma_number) for doc_id, link in found.items() if link}
    assert len(set(visma_numbers.values())) == 4
    assert visma_numbers[credit["id"]] == 202690001  # the credit-note rule's own number
    assert visma_numbers[named["id"]] >= SEQUENCE_START
    assert visma_numbers[high["id"]] >= SEQUENCE_START
    assert summary(sandbox)["duplicate_ledger_items"] == 0
