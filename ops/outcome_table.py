"""The table of what happened to each document type, shared by ``sync`` and the demo."""

from __future__ import annotations

from rich.table import Table

COLUMNS = ("seen", "posted", "updated", "unchanged", "skipped", "attention", "failed")
LABELS = {
    "customer": "customers",
    "invoice": "invoices",
    "credit_note": "credit notes",
    "payment": "payments",
}


def outcome_table(counts: dict[str, dict[str, int]], title: str) -> Table:
    """``counts`` as ``store.messages.document_outcomes`` returns them."""
    table = Table(title=title)
    table.add_column("documents")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for kind, label in LABELS.items():
        row = counts.get(kind, {})
        table.add_row(label, *(str(row.get(column, 0)) for column in COLUMNS))
    return table
