"""The differences as a table (``koppel reconcile``) and as CSV (``--csv FILE``)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from ops.console import shown
from ops.reconcile.compare import Difference

CSV_FIELDS = ("connection", "kind", "title", "subject", "detail", "advice", "visma_ids")


def differences_table(differences: Sequence[Difference]) -> Table:
    table = Table("kind", "document", "difference", "what to do", show_lines=True)
    for d in differences:
        table.add_row(d.title, shown(d.subject), shown(d.detail), d.advice)
    return table


def write_csv(path: Path, connection_name: str, differences: Sequence[Difference]) -> None:
    """One row a difference (appended after a header when the file is new, so one file can
    hold every connection's)."""
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(CSV_FIELDS)
        for d in differences:
            writer.writerow(
                [
                    connection_name,
                    d.kind,
                    d.title,
                    d.subject,
                    d.detail,
                    d.advice,
                    " ".join(d.visma_ids),
                ]
            )
