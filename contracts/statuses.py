"""Which Teamleader invoices are booked: the poller lists only these and the invoices
consumer posts only these (a draft has no number and may still change)."""

from __future__ import annotations

#: Teamleader's ``status`` of a booked invoice: open, or paid and matched.
BOOKED_INVOICE_STATUSES: tuple[str, ...] = ("outstanding", "matched")
