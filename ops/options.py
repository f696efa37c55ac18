"""The options many commands share, declared once here.

``--connection NAME`` (a name, an id, or the start of an id) means one of two things, and
``ops/lookups.py`` turns it into connections:

* :data:`the_connection_option`: the connection a command works on (``backfill``,
  ``mappings``); it may be left out when there is only one (``lookups.the_connection``).
* :data:`only_connection_option`: a command that covers every connection does only this one
  (``poll``, ``sync``, ``status``, ``history``, ``webhooks``, ``dlq``): the named one or
  every active one (``lookups.chosen_connections``), or the id its rows are filtered by
  (``lookups.connection_filter``).

``--wide`` and ``--json`` are every listing's (:func:`listing_options`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _connection_option(help_text: str) -> Callable[[F], F]:
    """``--connection``, passed to the command as ``connection_name`` (None: not given)."""
    return click.option("--connection", "connection_name", default=None, help=help_text)


#: ``--connection``: the one connection the command works on.
the_connection_option = _connection_option(
    "Connection name or id (may be left out when there is one)."
)
#: ``--connection``: only this one of the connections the command would cover.
only_connection_option = _connection_option("Only this connection.")


def listing_options(function: F) -> F:
    """``--wide`` and ``--json`` for a listing command (passed as ``wide`` and ``as_json``)."""
    function = click.option(
        "--json", "as_json", is_flag=True, help="JSON on stdout, every value whole (scripts)."
    )(function)
    return click.option(
        "--wide",
        is_flag=True,
        help="Every column, ids and texts whole, a row on one line (wider than 80 columns).",
    )(function)
