"""The table of what happened to each document type, shared by ``sync`` and the demo."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

COLUMNS = ("seen", "posted", "updated", "unchanged", "skipped", "attention", "failed")
LABELS = {
    "customer": "customers",
    "invoice": "invoices",
    "credit_note": "credit notes",
    "payment": "payments",
}


def outcome_table(
    counts: dict[str, dict[str, int]],
    title: str,
    *,
    still_failed: Mapping[str, int] | None = None,
) -> Table:
    """``counts`` as ``store.message_log.document_outcomes`` returns them.

    With ``still_failed`` (documents whose failure is still open, per type) the failed
    column shows those instead of failed messages: at the end of a run, a document that
    failed and was fixed and synced since is no longer failed."""
    table = Table(title=title)
    table.add_column("documents")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for kind, label in LABELS.items():
        row = dict(counts.get(kind, {}))
        if still_failed is not None:
            row["failed"] = still_failed.get(kind, 0)
        table.add_row(label, *(str(row.get(column, 0)) for column in COLUMNS))
    return table
