"""Webhooks from the Teamleader simulator to a small receiver this test runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from clients.teamleader.client import TeamleaderClient
from sandbox.teamleader.generate import generate_teamleader
from tests.conftest import TODAY, Sandbox
from tests.spec_check import SpecChecker
from tests.teamleader.support import control, sandbox_client, sandbox_settings

DATASET = generate_teamleader(11, "small")


class Receiver:
    """An HTTP server on a free port that keeps every JSON body POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/teamleader"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def client(sandbox: Sandbox, teamleader_spec: SpecChecker) -> Iterator[TeamleaderClient]:
    sandbox.reset({"teamleader": DATASET})
    client, _ = sandbox_client(
        sandbox_settings(sandbox.teamleader_url), event_hooks=teamleader_spec.hooks()
    )
    yield client
    client.close()


def draft(sandbox: Sandbox) -> dict[str, Any]:
    department = DATASET["departments"][0]
    rate = next(t for t in DATASET["taxRates"] if t["department"]["id"] == department["id"])
    company = DATASET["companies"][0]
    return control(
        sandbox,
        "invoices",
        {
            "department_id": department["id"],
            "customer": {"type": "company", "id": company["id"]},
            "lines": [
                {
                    "description": "Licentie",
                    "quantity": 2,
                    "unit_price": 50,
                    "tax_rate_id": rate["id"],
                }
            ],
        },
    )


def test_booking_updating_and_paying_an_invoice_each_post_a_webhook(
    sandbox: Sandbox, client: TeamleaderClient, receiver: Receiver
) -> None:
    # Given a receiver registered for the invoice events Koppel listens to
    client.register_webhook(
        receiver.url, ["invoice.booked", "invoice.updated", "invoice.paymentRegistered"]
    )
    invoice = draft(sandbox)

    # When the invoice is booked, changed and paid
    control(sandbox, f"invoices/{invoice['id']}/book", {"on": TODAY.isoformat()})
    control(sandbox, f"invoices/{invoice['id']}/update", {"note": "PO bijgewerkt"})
    client.register_payment(invoice["id"], Decimal("10.00"), "EUR", datetime.now(UTC))

    # Then three webhooks arrive, in order, naming the invoice and the account
    bodies = receiver.wait_for(3)
    assert [b["type"] for b in bodies] == [
        "invoice.booked",
        "invoice.updated",
        "invoice.paymentRegistered",
    ]
    assert all(b["subject"] == {"type": "invoice", "id": invoice["id"]} for b in bodies)
    assert bodies[0]["account"]["id"] == client.me().account.id  # type: ignore[union-attr]


def test_only_registered_types_are_delivered_and_the_log_shows_the_status(
    sandbox: Sandbox, client: TeamleaderClient, receiver: Receiver
) -> None:
    client.register_webhook(receiver.url, ["contact.updated"])
    contact = DATASET["contacts"][0]

    draft(sandbox)  # invoice.drafted: not registered
    control(sandbox, f"contacts/{contact['id']}", {"remarks": "nieuw adres"})

    bodies = receiver.wait_for(1)
    time.sleep(0.2)  # room for a wrong extra delivery to show up
    assert [b["type"] for b in receiver.received] == ["contact.updated"]
    assert bodies[0]["subject"] == {"type": "contact", "id": contact["id"]}
    log = httpx.get(f"{sandbox.teamleader_url}/_sandbox/webhooks/deliveries").json()["data"]
    assert [(d["url"], d["status"]) for d in log] == [(receiver.url, 200)]


def test_a_failing_receiver_does_not_fail_the_api_call(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    # Given a registered URL where nothing listens
    dead = Receiver()
    url = dead.url
    dead.close()
    client.register_webhook(url, ["invoice.booked", "creditNote.booked"])
    invoice = draft(sandbox)

    # When events fire
    booked = control(sandbox, f"invoices/{invoice['id']}/book", {"on": TODAY.isoformat()})
    credit = control(sandbox, f"invoices/{invoice['id']}/credit")

    # Then the changes happened and the failures are only logged
    assert booked["status"] == "outstanding" and credit["invoice"]["id"] == invoice["id"]
    deadline = time.monotonic() + 5
    log: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        log = httpx.get(f"{sandbox.teamleader_url}/_sandbox/webhooks/deliveries").json()["data"]
        if len(log) == 2 and all(d["error"] for d in log):
            break
        time.sleep(0.05)
    assert [d["body"]["type"] for d in log] == ["invoice.booked", "creditNote.booked"]
    assert all(d["status"] is None and d["error"] for d in log)
