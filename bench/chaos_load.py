"""Life going on during a chaos run: through the simulators' controls, a new invoice is
booked in Teamleader every tick, every fourth tick an earlier one is credited, and every
third a posted invoice is paid in part in Visma (as the bank would). The controls are never
faulted; a tick whose step cannot be done (our PostgreSQL is down, so no posted invoice can
be looked up) is skipped and counted.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from config import clock
from store.db import Pool

#: A partial payment (EUR): small, so a document is never paid past its amount.
PAYMENT = Decimal("5.00")


@dataclass
class Load:
    teamleader_url: str
    visma_url: str
    pool: Pool
    connection_id: uuid.UUID
    department_id: str
    customer: dict[str, str]
    tax_rate_id: str
    gap_s: float
    invoices: list[str] = field(default_factory=list)
    credit_notes: list[str] = field(default_factory=list)
    payments: int = 0
    skipped: int = 0
    _ticks: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    @property
    def documents(self) -> int:
        return len(self.invoices) + len(self.credit_notes)

    def _run(self) -> None:
        while not self._stop.wait(self.gap_s):
            self.tick()

    def tick(self) -> None:
        self._ticks += 1
        self.book()
        if self._ticks % 4 == 0 and len(self.invoices) > 2:
            self.credit(self.invoices[-3])
        if self._ticks % 3 == 0:
            self.pay()

    def book(self) -> None:
        n = len(self.invoices) + 1
        # A price of its own per invoice (cents = n), so no two look alike in Visma.
        price = Decimal(100 + n) + Decimal(n % 100) / 100
        invoice = _post(
            f"{self.teamleader_url}/_sandbox/invoices",
            {
                "department_id": self.department_id,
                "customer": self.customer,
                "currency": "EUR",
                "lines": [
                    {
                        "quantity": "1",
                        "description": f"Chaos {n}",
                        "unit_price": str(price),
                        "tax_rate_id": self.tax_rate_id,
                    }
                ],
                "book_on": clock.today().isoformat(),
            },
        )
        self.invoices.append(str(invoice["id"]))

    def credit(self, invoice_id: str) -> None:
        note = _post(
            f"{self.teamleader_url}/_sandbox/invoices/{invoice_id}/credit",
            {"on": clock.today().isoformat()},
        )
        self.credit_notes.append(str(note["id"]))

    def pay(self) -> None:
        try:
            with self.pool.connection() as conn:
                row = conn.execute(
                    "SELECT visma_id FROM links WHERE connection_id = %s"
                    " AND teamleader_type = 'invoice' AND teamleader_id = ANY(%s)"
                    " AND remaining > %s ORDER BY random() LIMIT 1",
                    [self.connection_id, self.invoices, PAYMENT * 2],
                ).fetchone()
        except Exception:  # our PostgreSQL is down in this class: no payment this tick
            self.skipped += 1
            return
        if row is None:
            self.skipped += 1
            return
        response = httpx.post(
            f"{self.visma_url}/_sandbox/customerledgeritems/{row['visma_id']}/payments",
            json={"Amount": str(PAYMENT), "PaymentDate": clock.today().isoformat()},
            timeout=30,
        )
        if response.status_code == 409:  # less remains than Koppel last saw: not paid
            self.skipped += 1
            return
        response.raise_for_status()
        self.payments += 1


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url, json=body, timeout=30)
    response.raise_for_status()
    return dict(response.json())
