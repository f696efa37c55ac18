"""``koppel backfill``: (being built, see issue 4)."""

from __future__ import annotations

import click


@click.group("backfill") if "backfill" == "dlq" else click.command("backfill")
def backfill_command() -> None:
    """(being built)"""
