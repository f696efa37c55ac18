"""Every queue's consumer, for a process that serves all queues (``koppel work`` without
--queues) and for the broker, which declares their actors (``consumers.app.get_broker``).

Each queue's consumer is the module named after the queue (as Zulip names its workers):
``consumers.contacts``, ``consumers.invoices``, ``consumers.credit_notes``,
``consumers.payments``. They are found by that name rather than imported here, because a
queue module run by Dramatiq's command line reaches this one through ``consumers.app``.
"""

from __future__ import annotations

import importlib

from consumers.base import Consumer
from contracts import queues


def module_of(queue: str) -> str:
    return f"consumers.{queue}"


def consumer_of(queue: str) -> Consumer:
    """The consumer that ``consumers.<queue>`` declares (imported on first use)."""
    consumer = getattr(importlib.import_module(module_of(queue)), "consumer", None)
    if not isinstance(consumer, Consumer):
        raise TypeError(f"{module_of(queue)} declares no Consumer named `consumer`")
    return consumer


def consumers(queue_names: list[str] | tuple[str, ...] | None = None) -> list[Consumer]:
    """The consumers of these queues (all by default)."""
    return [consumer_of(name) for name in queue_names or queues.ALL]


def load(queue_names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Import the consumers of these queues (all by default); return the queues loaded.

    Their actors are on the broker of ``consumers.app.get_broker``, which a worker uses."""
    return [consumer.queue for consumer in consumers(queue_names)]
