"""``koppel dlq``: (being built, see issue 4)."""

from __future__ import annotations

import click


@click.group("dlq") if "dlq" == "dlq" else click.command("dlq")
def dlq_command() -> None:
    """(being built)"""
