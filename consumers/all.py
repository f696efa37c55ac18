"""Every consumer, for a process that serves all queues (``koppel work`` without --queues).

Each queue's consumer is the module named after the queue (as Zulip names its workers):
``consumers.contacts``, ``consumers.invoices``, ``consumers.credit_notes``, ``consumers.payments``.
"""

from __future__ import annotations

import importlib

from contracts import queues


def module_of(queue: str) -> str:
    return f"consumers.{queue}"


def load(queue_names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Import the consumers of these queues (all by default); return the queues loaded."""
    names = list(queue_names or queues.ALL)
    for name in names:
        importlib.import_module(module_of(name))
    return names


load()
