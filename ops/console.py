"""The one way ops commands make a rich console, and what their listings share: a default
view that fits 80 columns, ``--wide`` for everything, ``--json`` for scripts (the options
themselves are in ``ops/options.py``).

Remote text (a Teamleader name, a reason, Visma's answer) may hold terminal escape sequences
(clear the screen, set the title, write the clipboard with OSC 52, hide a link with OSC 8) or
bidi overrides: every console made here shows them as escapes (``\\x1b``, ``\\u202e``), and
:func:`shown` does the same for text printed another way (``click.echo``) or built into a
``rich.text.Text`` (so a table measures the escaped text)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from translation.clean_text import visible, visible_in_json

#: A UUID anywhere in an id ("company:<uuid>" too); the default views show its first group.
_UUID = re.compile(
    r"\b([0-9a-fA-F]{8})-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)


def shown(text: str) -> str:
    """``text`` as it may be printed: control characters (but newline and tab) and bidi
    overrides as visible escapes, ``\\x1b``, ``\\u202e``."""
    return visible(text)


class EscapingConsole(Console):
    """A console that prints no control character or bidi override it was given as text.

    A ``str`` is escaped before rich lays it out (so widths are right); every segment
    rendered is escaped once more, which catches a ``Text`` built without :func:`shown`
    and JSON (``print_json``). Rich's own control segments (cursor moves) are left alone,
    and its colours are added after rendering."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(shown(text), **options)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control:
                yield segment
            else:
                yield Segment(shown(segment.text), segment.style)


def new_console(width: int | None = None, *, stderr: bool = False) -> Console:
    """A console for one command's output.

    Created per command: rich reads the terminal width (and COLUMNS) when it is made; not a
    terminal (a pipe, cron mail), it is 80 columns. No markup: names, descriptions, reasons
    and errors come from Teamleader and Visma and may hold "[...]" ("account [b]8150" would
    lose "[b]", "Widget [/] 5" would raise MarkupError); colour goes through
    ``rich.text.Text(..., style=...)`` instead. No highlighting: numbers and dates keep the
    colour they are given. Soft wrap: a long line (a command to copy) is left for the
    terminal to wrap; table cells still wrap by their column's own rules, and a sentence that
    must fit the width is printed with ``soft_wrap=False``. Escaping: see
    :class:`EscapingConsole`.
    """
    return EscapingConsole(
        highlight=False, markup=False, soft_wrap=True, width=width, stderr=stderr
    )


#: The width of a ``--wide`` view: its rows are as long as their values, whatever the
#: terminal (read it with ``less -S``, or grep it: each row stays on one line).
UNLIMITED = 100_000


def listing_console(wide: bool) -> Console:
    """The console of a listing: the terminal's width (80 in a pipe), or for ``--wide`` as
    wide as the rows."""
    return new_console(UNLIMITED if wide else None)


def one_line(text: str, style: str = "") -> Text:
    """A table cell kept to one line and cut with an ellipsis where its column ends, so a
    default view fits 80 columns however long a reason is (``--wide`` shows it whole)."""
    return Text(shown(" ".join(text.split())), style=style, no_wrap=True, overflow="ellipsis")


def print_cut(console: Console, text: str | Text) -> None:
    """One line, cut with an ellipsis at the console's width (the console soft-wraps)."""
    console.print(text, soft_wrap=False, no_wrap=True, overflow="ellipsis")


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, an ellipsis marking a cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def aligned(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widest: Sequence[int],
    right: Collection[int] = (),
) -> list[str]:
    """Lines of columns two spaces apart, column ``i`` at most ``widest[i]`` characters (a
    longer cell is cut), the columns in ``right`` right-aligned: for a default view whose
    rows need a second line, which a rich table cannot span."""
    cells = [[cut(cell, most) for cell, most in zip(row, widest, strict=True)] for row in rows]
    widths = [max([len(head), *(len(row[i]) for row in cells)]) for i, head in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [line(header), *(line(row) for row in cells)]


def short_id(value: object) -> str:
    """An id with each UUID in it cut to its first group ("0b0e5c1e…", "company:0b0e5c1e…"):
    enough to tell rows apart, as git shortens hashes; ``--wide`` and ``--json`` show it
    whole."""
    return _UUID.sub(lambda match: f"{match.group(1)}…", str(value))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def echo_json(body: Any) -> None:
    """``body`` as indented JSON on stdout; datetimes in ISO 8601, UUIDs and Decimals as
    strings (money keeps its digits). JSON escapes C0 controls itself; C1 controls and bidi
    overrides are written as ``\\uXXXX`` escapes too (the same value, safe to print)."""
    click.echo(visible_in_json(json.dumps(body, indent=2, default=_plain, ensure_ascii=False)))
