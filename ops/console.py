"""The one way ops commands make a rich console."""

from __future__ import annotations

from rich.console import Console


def new_console(width: int | None = None) -> Console:
    """A console for one command's output.

    Created per command: rich reads the terminal width (and COLUMNS) when it is made.
    No markup: names, descriptions, reasons and errors come from Teamleader and Visma and may
    hold "[...]" ("account [b]8150" would lose "[b]", "Widget [/] 5" would raise MarkupError);
    colour goes through ``rich.text.Text(..., style=...)`` instead. No highlighting: numbers
    and dates keep the colour they are given. Soft wrap: a long line (a command to copy) is
    left for the terminal to wrap; table cells still wrap by their column's own rules.
    """
    return Console(highlight=False, markup=False, soft_wrap=True, width=width)
