"""Webhook delivery: POST ``{"subject", "type", "account"}`` to every registered URL.

Delivery is asynchronous (a task on the server's event loop), so the API call that caused
the event never waits for a receiver; a failing receiver is logged and recorded, never
fatal. No retries and no signature: neither is documented (docs/api-facts.md, Teamleader §8).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from sandbox.teamleader.state import Account, Event

log = logging.getLogger(__name__)

#: The official event types (webhooks.register enum, spec v1.112.0), the ones Koppel and
#: the simulator care about first.
EVENT_TYPES = frozenset(
    [
        "account.deactivated",
        "account.deleted",
        "company.added",
        "company.updated",
        "company.deleted",
        "contact.added",
        "contact.updated",
        "contact.deleted",
        "contact.linkedToCompany",
        "contact.unlinkedFromCompany",
        "contact.updatedLinkToCompany",
        "creditNote.booked",
        "creditNote.updated",
        "creditNote.sent",
        "creditNote.deleted",
        "creditNote.peppolSubmissionFailed",
        "creditNote.peppolSubmissionSucceeded",
        "invoice.drafted",
        "invoice.booked",
        "invoice.updated",
        "invoice.sent",
        "invoice.deleted",
        "invoice.paymentRegistered",
        "invoice.paymentRemoved",
        "invoice.peppolSubmissionFailed",
        "invoice.peppolSubmissionSucceeded",
        "product.added",
        "product.updated",
        "product.deleted",
        "subscription.added",
        "subscription.updated",
        "subscription.deactivated",
        "subscription.deleted",
        "user.deactivated",
    ]
)

DELIVERY_TIMEOUT_S = 5.0


@dataclass
class Delivery:
    account_id: str
    url: str
    body: dict[str, Any]
    status: int | None = None  # None while in flight
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "url": self.url,
            "body": self.body,
            "status": self.status,
            "error": self.error,
        }


#: How many deliveries the log keeps (a long-running sandbox must not grow without bound).
DELIVERY_LOG_SIZE = 10_000


@dataclass
class WebhookDispatcher:
    deliveries: deque[Delivery] = field(default_factory=lambda: deque(maxlen=DELIVERY_LOG_SIZE))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def fire(self, account: Account, events: list[Event]) -> None:
        for event_type, subject in events:
            body = {
                "subject": subject,
                "type": event_type,
                "account": {"type": "account", "id": account.id},
            }
            for hook in account.webhooks:
                if event_type in hook["types"]:
                    delivery = Delivery(account.id, hook["url"], body)
                    self.deliveries.append(delivery)
                    task = asyncio.get_running_loop().create_task(self._send(delivery))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _send(self, delivery: Delivery) -> None:
        try:
            async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_S) as client:
                response = await client.post(delivery.url, json=delivery.body)
            delivery.status = response.status_code
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
            log.warning("webhook to %s failed: %s", delivery.url, delivery.error)

    def for_account(self, account_id: str | None) -> list[dict[str, Any]]:
        return [
            d.as_json() for d in self.deliveries if account_id is None or d.account_id == account_id
        ]
