"""Hostile text from Teamleader: a name holding a NUL byte, terminal escape sequences (clear
the screen, an OSC 52 clipboard write) and a bidi override (U+202E), through the real
pipeline — RabbitMQ, PostgreSQL, both simulators and the command line as its own process.

It reaches Visma cleaned, its failures are recorded (cleaned, or shortened when PostgreSQL
refuses them whole), and nothing Koppel prints or logs carries a control character or a
bidi override as it came: they are shown as escapes (``\\x1b``, ``\\u202e``)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from clients.visma import VismaClient
from consumers.app import get_broker
from consumers.runtime import Runtime
from contracts import queues
from contracts.messages import CustomerChanged
from ops.connect.connecting import Connected
from producers.webhook_receiver import webhook_path
from store import document_history, failures
from tests.conftest import ROOT, TEST_TOKEN_KEY, Sandbox, free_port
from tests.pipeline.support import (
    consumers_running,
    dead_letters,
    koppel_cli,
    outcome,
    send,
    wait_for,
    wait_settled,
)
from tests.spec_check import SpecChecker
from tests.visma import support as visma_support
from translation.customers import reference_for

#: A contact's name parts as an attacker types them in Teamleader: a NUL byte, "clear the
#: screen" (CSI 2J), a bidi override, and an OSC 52 clipboard write ended by BEL.
FIRST_NAME = "Anna\x00\x1b[2J"
LAST_NAME = "\u202eVries\x1b]52;c;aGFja2Vk\x07"
#: The same name with the control characters and the override removed.
CLEANED_NAME = "Anna[2J Vries]52;c;aGFja2Vk"
#: What must never reach Visma, PostgreSQL or a terminal as it came.
RAW = ("\x00", "\x1b", "\x07", "\u202e")
INVALID_NL_VAT = "NL123456789B02"  # the check digits do not match: Visma refuses it


@pytest.fixture
def visma(connected: Connected, sandbox: Sandbox, visma_spec: SpecChecker) -> Iterator[VismaClient]:
    client, _ = visma_support.connect(sandbox, visma_spec, connection_id="test-reader")
    yield client
    client.close()


def raw_in(text: str) -> list[str]:
    return [char for char in RAW if char in text]


def hostile_contact(sandbox: Sandbox, **fields: Any) -> dict[str, Any]:
    """A contact in the Teamleader simulator with the hostile name (and ``fields``)."""
    body = {
        "first_name": FIRST_NAME,
        "last_name": LAST_NAME,
        "addresses": [
            {
                "type": "primary",
                "address": {
                    "line_1": "Dorpsstraat 12",
                    "postal_code": "3512 AB",
                    "city": "Utrecht",
                },
            }
        ],
        **fields,
    }
    response = httpx.post(f"{sandbox.teamleader_url}/_sandbox/contacts", json=body, timeout=10)
    response.raise_for_status()
    contact: dict[str, Any] = response.json()
    return contact


def changed(connected: Connected, contact: dict[str, Any]) -> CustomerChanged:
    return CustomerChanged(
        connection_id=connected.connection.id,
        kind="contact",
        teamleader_id=contact["id"],
        updated_at=datetime.fromisoformat(contact["updated_at"]),
    )


def all_failures(pool: ConnectionPool) -> list[failures.Failure]:
    return failures.listing(pool, statuses=failures.STATUSES)


# -- Visma and PostgreSQL ------------------------------------------------------------------
def test_a_contact_named_with_control_characters_becomes_a_visma_customer_without_them(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    # Given a contact whose name holds a NUL, escape sequences and a bidi override
    contact = hostile_contact(sandbox)
    message = changed(connected, contact)
    # When its change goes through the contacts queue
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool, timeout_s=30)
    # Then Visma has the customer under the name without them
    assert outcome(pool, message) == "posted"
    [customer] = list(visma.customers(f"Note eq '{reference_for('contact', contact['id'])}'"))
    assert customer.Name == CLEANED_NAME
    # And the history PostgreSQL took names it cleaned too
    [event] = document_history.timeline(
        pool, connected.connection.id, "customer", message.document_id
    )
    assert CLEANED_NAME in event.detail["detail"]
    assert raw_in(json.dumps(event.detail, ensure_ascii=False)) == []


def test_a_contact_visma_refuses_is_recorded_as_failed_with_its_name_cleaned(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    # Given the hostile contact with a VAT number Visma refuses
    contact = hostile_contact(sandbox, vat_number=INVALID_NL_VAT)
    message = changed(connected, contact)
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        # Then the message gets an outcome (it is not left waiting) …
        wait_settled(pool, timeout_s=30)
        wait_for(lambda: dead_letters(queues.CONTACTS) == 1)
    # … failed, with a failure row whose reason names the customer, cleaned
    assert outcome(pool, message) == "failed"
    [failure] = all_failures(pool)
    assert failure.error_class == "CustomerNotAcceptable"
    assert failure.reason.startswith(
        f"Customer '{CLEANED_NAME}' (Teamleader contact {contact['id']}) has VAT number "
        f"'{INVALID_NL_VAT}', which Visma refuses as invalid"
    )
    assert raw_in(failure.reason) == []
    assert list(visma.customers()) == []


def test_a_failure_postgresql_refuses_whole_is_recorded_shortened_not_lost(
    connected: Connected, pool: ConnectionPool, checked_runtime: Runtime
) -> None:
    # Given a malformed message whose options hold a NaN, which a JSONB column refuses
    letter = dramatiq.Message(
        queue_name=queues.CONTACTS,
        actor_name=queues.CONTACTS,
        args=({"schema_version": 1, "kind": "contact\x1b[2J"},),
        kwargs={},
        options={"trace": math.nan},
    )
    with consumers_running(queues.CONTACTS):
        get_broker().enqueue(letter)
        # Then it is dead-lettered and its failure is still recorded …
        wait_for(lambda: all_failures(pool), timeout_s=30, what="the failure recorded")
        wait_for(lambda: dead_letters(queues.CONTACTS) == 1)
    [failure] = all_failures(pool)
    # … with its reason and what a requeue needs of its message, cleaned, but no options
    assert failure.error_class == "MalformedMessage"
    assert "connection_id: Field required" in failure.reason
    assert failure.message["message_id"] == letter.message_id
    assert failure.message["args"] == [{"schema_version": 1, "kind": "contact[2J"}]
    assert "options" not in failure.message


# -- what is printed -----------------------------------------------------------------------
def assert_printed_escaped(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert raw_in(output) == [], output
    assert "\\x1b" in output, output


def test_dlq_and_history_show_a_stored_escape_sequence_as_visible_text(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given a dead letter and its document's history as an older Koppel stored them: its
    # reason holding the escape sequences and the bidi override as they came
    document_id = f"contact:{uuid.uuid4()}"
    reason = f"Customer 'Anna\x1b[2J \u202eVries\x1b]52;c;aGFja2Vk\x07' ({document_id}) has no city"
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO failures (connection_id, queue, document_type, document_id, dedupe_key,"
            " message, error_class, reason) VALUES (%s, 'contacts', 'customer', %s, %s, %s,"
            " 'CustomerNotAcceptable', %s)",
            [
                connected.connection.id,
                document_id,
                f"customer:{document_id}:1",
                Jsonb({"message_id": str(uuid.uuid4()), "args": [{"name": reason}]}),
                reason,
            ],
        )
        conn.execute(
            "INSERT INTO history (connection_id, document_type, document_id, event, detail)"
            " VALUES (%s, 'customer', %s, 'failed', %s)",
            [
                connected.connection.id,
                document_id,
                Jsonb({"detail": reason, "error": "CustomerNotAcceptable"}),
            ],
        )
    [failure] = all_failures(pool)
    # When a person reads them, in every view
    for args in (
        ("dlq", "list"),
        ("dlq", "list", "--wide"),
        ("dlq", "show", str(failure.id)),
        ("history", document_id),
        ("history", document_id, "--wide"),
    ):
        result = koppel_cli(koppel_env, *args, timeout_s=60)
        # Then no escape sequence or override reaches the terminal: they are shown escaped
        assert result.returncode == 0, result.stdout + result.stderr
        assert_printed_escaped(result)
    # And --json says the same as JSON escapes, which read back as the stored text
    listed = koppel_cli(koppel_env, "dlq", "list", "--json", timeout_s=60)
    assert raw_in(listed.stdout) == []
    assert json.loads(listed.stdout)[0]["reason"] == reason


def test_sync_once_prints_and_logs_a_refused_hostile_contact_escaped_and_exits_1(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    # Given the hostile contact, without a postal code, in Teamleader
    contact = hostile_contact(
        sandbox, addresses=[{"type": "primary", "address": {"line_1": "x", "city": "Utrecht"}}]
    )
    # When one sync round runs (an unrecordable failure once left it waiting 600 s)
    result = koppel_cli(koppel_env, "sync", "--once", timeout_s=120)
    # Then it ends, exit 1, naming the customer without a control character, in its output
    # and in its log lines
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert raw_in(output) == [], output
    expected = (
        f"failed: Customer '{CLEANED_NAME}' (Teamleader contact {contact['id']}) has no postal code"
    )
    assert any(line.startswith(expected) for line in result.stdout.splitlines()), output
    [failure] = failures.listing(pool, connection_id=connected.connection.id)
    assert failure.reason.startswith(expected.removeprefix("failed: "))


# -- what is logged ------------------------------------------------------------------------
def test_a_newline_in_a_webhook_subject_id_stays_inside_one_log_line(
    connected: Connected, koppel_env: dict[str, str], tmp_path: Path
) -> None:
    # Given the webhook receiver, its log on a file
    port = free_port()
    log = tmp_path / "receiver.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "webhooks", "serve", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **koppel_env, "KOPPEL_LOG_LEVEL": "INFO"},
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout_s=30, what="the webhook receiver listening")
        # When an event arrives whose subject id carries a newline and a forged log line
        forged = "2026-06-15 10:00:00,000 ERROR koppel forged line"
        event = {
            "type": "invoice.booked",
            "subject": {"type": "invoice", "id": f"abc\n{forged}\x1b[2J"},
        }
        path = webhook_path(TEST_TOKEN_KEY, connected.connection.id)
        assert httpx.post(url + path, json=event, timeout=5).status_code == 202
        wait_for(lambda: "poked connection" in log.read_text(), what="the poke logged")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    # Then the id is inside the one line that logs the poke, escaped
    lines = log.read_text().splitlines()
    [poked] = [line for line in lines if "poked connection" in line]
    assert "abc" in poked and forged in poked
    assert not any(line.startswith(forged) for line in lines)
    assert raw_in(log.read_text()) == []
