"""``koppel webhooks``: seconds instead of a poll interval.

* ``serve`` runs the receiver (``producers/webhook_receiver.py``): Teamleader's events poke
  the poller (``koppel poll``), which polls that connection at once.
* ``register --base-url URL`` asks Teamleader to send each connection's events to
  ``URL/teamleader/<connection id>/<token>``; ``URL`` is where the receiver is reachable
  from the internet (a reverse proxy with TLS in front of ``serve``).
* ``list`` shows what Teamleader has registered, Koppel's own hooks marked.

The poller keeps polling at its interval: a webhook lost (Teamleader does not retry) or a
receiver that is down costs at most one interval, never a document.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
import uvicorn
from rich.console import Console
from rich.table import Table

from config import get_settings
from ops.console import new_console
from ops.lookups import chosen_connections
from ops.options import only_connection_option
from producers.webhook_receiver import EVENT_TYPES, create_app, webhook_path
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import open_pool
from store.token_store import cipher


def _token_key() -> str:
    key = get_settings().token_key.get_secret_value()
    cipher(key)  # the same key the tokens use: missing or malformed is said the same way
    return key


def _masked(url: str) -> str:
    """A webhook URL without its token (it is a secret: whoever has it can poke)."""
    head, _, token = url.rpartition("/")
    return f"{head}/{token[:4]}…" if len(token) == 32 else url


@click.group("webhooks")
def webhooks_command() -> None:
    """Teamleader webhooks: changes within seconds instead of at the next poll."""


@webhooks_command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8710, show_default=True)
def serve_command(host: str, port: int) -> None:
    """Receive Teamleader's events and poke the poller."""
    key = _token_key()
    settings = get_settings()
    pool = open_pool(settings, name="koppel-webhooks")
    try:
        new_console().print(f"koppel webhooks: receiving on http://{host}:{port}/teamleader/")
        uvicorn.run(create_app(pool, key), host=host, port=port, log_level="warning")
    finally:
        pool.close()


@dataclass
class _Session:
    """What ``register`` and ``list`` share: the key, the chosen connections, their clients."""

    key: str
    chosen: list[Connection]
    clients: ClientCache
    console: Console


@contextmanager
def _session(connection_name: str | None) -> Iterator[_Session]:
    key = _token_key()
    settings = get_settings()
    pool = open_pool(settings, name="koppel-webhooks")
    cache = ClientCache(settings, pool)
    try:
        yield _Session(key, chosen_connections(pool, connection_name), cache, new_console())
    finally:
        cache.close()
        pool.close()


@webhooks_command.command("register")
@click.option("--base-url", required=True, help="Where Teamleader reaches `serve` (https://…).")
@only_connection_option
def register_command(base_url: str, connection_name: str | None) -> None:
    """Register each connection's webhook with Teamleader (registering again is harmless)."""
    with _session(connection_name) as session:
        for connection in session.chosen:
            url = base_url.rstrip("/") + webhook_path(session.key, connection.id)
            teamleader = session.clients.for_connection(connection).teamleader
            teamleader.register_webhook(url, EVENT_TYPES)
            kinds = len(EVENT_TYPES)
            session.console.print(
                f"{connection.name}: Teamleader sends {kinds} event types to {_masked(url)}"
            )


@webhooks_command.command("list")
@only_connection_option
def list_command(connection_name: str | None) -> None:
    """What Teamleader sends where, per connection."""
    with _session(connection_name) as session:
        for connection in session.chosen:
            ours = webhook_path(session.key, connection.id)
            table = Table(title=f"{connection.name}: webhooks", title_justify="left")
            for column in ("url", "Koppel's", "types"):
                table.add_column(column, overflow="fold")
            for hook in session.clients.for_connection(connection).teamleader.webhooks():
                mine = "yes" if hook.url.endswith(ours) else "no"
                table.add_row(_masked(hook.url), mine, ", ".join(hook.types))
            session.console.print(table)
