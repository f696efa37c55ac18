"""``koppel history``: (being built, see issue 4)."""

from __future__ import annotations

import click


@click.group("history") if "history" == "dlq" else click.command("history")
def history_command() -> None:
    """(being built)"""
