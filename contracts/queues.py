"""Queue names; Dramatiq adds ``<name>.DQ`` (delays, retries) and ``<name>.XQ`` (dead letters)."""

from __future__ import annotations

CONTACTS = "contacts"
INVOICES = "invoices"
CREDIT_NOTES = "credit_notes"
PAYMENTS = "payments"

ALL = (CONTACTS, INVOICES, CREDIT_NOTES, PAYMENTS)


def delay_queue(queue: str) -> str:
    return f"{queue}.DQ"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.XQ"
