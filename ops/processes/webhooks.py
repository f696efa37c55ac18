"""``koppel webhooks``: seconds instead of a poll interval.

* ``serve`` runs the receiver (``producers/webhook_receiver.py``): Teamleader's events poke
  the poller (``koppel poll``), which polls that connection at once. Its limits (timeouts,
  body size, connections, one poke per gap) are the ``KOPPEL_WEBHOOK_*`` settings.
* ``register --base-url URL`` asks Teamleader to send each connection's events to
  ``URL/teamleader/<connection id>/<token>``; ``URL`` is where the receiver is reachable
  from the internet (a reverse proxy with TLS in front of ``serve``).
* ``list`` shows what Teamleader has registered, Koppel's own hooks marked.
* ``rotate --connection C`` gives one connection a new webhook secret and URL, and
  unregisters its old URL (answered 404 from then on): a leaked URL is revoked alone
  (``ops/processes/webhook_rotation.py``).

The poller keeps polling at its interval: a webhook lost (Teamleader does not retry) or a
receiver that is down costs at most one interval, never a document.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from rich.console import Console
from rich.table import Table

from config import get_settings
from ops.console import new_console
from ops.lookups import chosen_connections, the_connection
from ops.options import only_connection_option, the_connection_option
from ops.processes.webhook_rotation import current_base, rotate_webhook
from producers.webhook_receiver import EVENT_TYPES, ReceiverLimits, create_app, path_with
from producers.webhook_server import ServerLimits, serve
from store import webhook_secrets
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import Pool, open_pool
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
        app = create_app(pool, key, ReceiverLimits.from_settings(settings))
        serve(app, host, port, ServerLimits.from_settings(settings))
    finally:
        pool.close()


@dataclass
class _Session:
    """What ``register``, ``list`` and ``rotate`` share: the key, the chosen connections,
    their clients."""

    key: str
    pool: Pool
    chosen: list[Connection]
    clients: ClientCache
    console: Console


@contextmanager
def _session(connection_name: str | None, *, one: bool = False) -> Iterator[_Session]:
    key = _token_key()
    settings = get_settings()
    pool = open_pool(settings, name="koppel-webhooks")
    cache = ClientCache(settings, pool)
    try:
        if one:
            chosen = [the_connection(pool, connection_name)]
        else:
            chosen = chosen_connections(pool, connection_name)
        yield _Session(key, pool, chosen, cache, new_console())
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
            # First use: the token becomes the connection's own secret, the same URL.
            token = webhook_secrets.adopt(session.pool, session.key, connection.id)
            url = base_url.rstrip("/") + path_with(connection.id, token)
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
            token = webhook_secrets.token_of(session.pool, session.key, connection.id)
            ours = path_with(connection.id, token)
            table = Table(title=f"{connection.name}: webhooks", title_justify="left")
            for column in ("url", "Koppel's", "types"):
                table.add_column(column, overflow="fold")
            for hook in session.clients.for_connection(connection).teamleader.webhooks():
                mine = "yes" if hook.url.endswith(ours) else "no"
                table.add_row(_masked(hook.url), mine, ", ".join(hook.types))
            session.console.print(table)


@webhooks_command.command("rotate")
@click.option(
    "--base-url",
    default=None,
    help="Where Teamleader reaches `serve` (default: where the connection's URL points now).",
)
@the_connection_option
def rotate_command(base_url: str | None, connection_name: str | None) -> None:
    """Give one connection a new webhook URL and revoke its old one (404 from now on).

    For a leaked URL: a new random secret is stored for the connection, its new URL is
    registered with Teamleader and its old one unregistered. Other connections' URLs do
    not change.
    """
    with _session(connection_name, one=True) as session:
        (connection,) = session.chosen
        teamleader = session.clients.for_connection(connection).teamleader
        base = base_url or current_base(session.pool, session.key, connection, teamleader)
        if base is None:
            raise click.UsageError(
                f"Teamleader holds no webhook of {connection.name!r} to take the base URL"
                " from: give --base-url (where Teamleader reaches `koppel webhooks serve`)"
            )
        rotated = rotate_webhook(session.pool, session.key, connection, teamleader, base)
        session.console.print(
            f"{connection.name}: Teamleader now sends its events to {_masked(rotated.new_url)};"
            f" {len(rotated.unregistered)} old URL(s) unregistered and answered 404"
        )
