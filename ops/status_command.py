"""``koppel status``: (being built, see issue 4)."""

from __future__ import annotations

import click


@click.group("status") if "status" == "dlq" else click.command("status")
def status_command() -> None:
    """(being built)"""
