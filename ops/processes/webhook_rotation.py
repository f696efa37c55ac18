"""``koppel webhooks rotate``: a new webhook secret for one connection, revoking its URL alone.

Teamleader signs nothing, so whoever has a connection's URL can poke it; when one leaks,
that connection gets a new random secret (``store/webhook_secrets.py``), its new URL is
registered with Teamleader and every other URL of it is unregistered. The other
connections' URLs do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

from clients.teamleader import TeamleaderClient
from producers.webhook_receiver import EVENT_TYPES, path_with
from store import webhook_secrets
from store.connections import Connection
from store.db import Pool


@dataclass(frozen=True)
class Rotated:
    connection: Connection
    new_url: str
    #: The connection's URLs Teamleader no longer sends to (the old one, and any a failed
    #: rotation left behind).
    unregistered: list[str]


def current_base(
    pool: Pool, token_key: str, connection: Connection, teamleader: TeamleaderClient
) -> str | None:
    """The base URL the connection's current webhook URL is registered at; None when
    Teamleader holds none of it."""
    current = path_with(connection.id, webhook_secrets.token_of(pool, token_key, connection.id))
    for hook in teamleader.webhooks():
        if hook.url.endswith(current):
            return hook.url.removesuffix(current)
    return None


def rotate_webhook(
    pool: Pool,
    token_key: str,
    connection: Connection,
    teamleader: TeamleaderClient,
    base_url: str,
) -> Rotated:
    """Give ``connection`` a new webhook secret, and Teamleader its new URL at ``base_url``."""
    prefix = path_with(connection.id, "")
    registered = [hook for hook in teamleader.webhooks() if prefix in hook.url]
    token = webhook_secrets.new_token()
    new_url = base_url.rstrip("/") + path_with(connection.id, token)
    # Teamleader first: should it refuse, nothing has changed and the old URL still works.
    teamleader.register_webhook(new_url, EVENT_TYPES)
    # From this commit on the old token is answered 404 and the new one accepted (an event
    # sent in between to the new URL is lost like any missed webhook: the poll interval
    # still reads it).
    webhook_secrets.replace(pool, token_key, connection.id, token)
    stale = [hook for hook in registered if hook.url != new_url]
    for hook in stale:
        teamleader.unregister_webhook(hook.url, hook.types)
    return Rotated(connection, new_url, [hook.url for hook in stale])
