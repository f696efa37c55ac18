"""What ``koppel connections`` does, without click: list, pause, resume and remove a
connection, each answered in sentences the command prints.

Paused: not polled (``producers/poller.py``), its queued messages acknowledged without
effect (``consumers/base.py``), read again on resume. Removed: the same for good, with its
tokens and cursors deleted and its history kept (``store/connections.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config.errors import NeedsPerson
from ops.time_text import duration, when
from store import connections, deletions
from store.connections import Connection, Listed
from store.db import Pool


class StateRefused(NeedsPerson):
    """The connection's state does not allow it (a removed connection cannot be resumed)."""


@dataclass(frozen=True)
class Done:
    """What a command did, in one sentence (``changed``: False when there was nothing to
    do, e.g. pausing a paused connection)."""

    changed: bool
    message: str


def label(connection: Connection) -> str:
    return f"connection {connection.name!r} ({connection.id})"


def since(connection: Connection) -> str:
    """The state and since when: ``paused since …``, ``removed on …`` or ``active``."""
    if connection.removed_at is not None:
        return f"removed on {when(connection.removed_at)}"
    if connection.paused_at is not None:
        return f"paused since {when(connection.paused_at)}"
    return "active"


def ago(moment: datetime | None, now: datetime) -> str:
    """``12 s ago``; ``never``."""
    if moment is None:
        return "never"
    return f"{duration(max((now - moment).total_seconds(), 0.0))} ago"


def as_json(listed: Listed) -> dict[str, Any]:
    """One connection for ``--json``: every field whole, times in ISO 8601."""
    c = listed.connection
    return {
        "id": c.id,
        "name": c.name,
        "state": c.state,
        "sandbox": c.sandbox,
        "teamleader_account_id": c.teamleader_account_id,
        "teamleader_department_id": c.teamleader_department_id,
        "visma_company_id": c.visma_company_id,
        "sync_from": c.sync_from,
        "poll_interval_s": c.poll_interval_s,
        "paused_at": c.paused_at,
        "removed_at": c.removed_at,
        "last_poll": listed.last_poll,
    }


def _refuse_removed(connection: Connection, what: str) -> None:
    if connection.removed_at is not None:
        raise StateRefused(
            f"{label(connection)} was removed on {when(connection.removed_at)} and cannot be"
            f" {what}; `koppel connect` makes a new connection"
        )


def pause(pool: Pool, connection: Connection) -> Done:
    _refuse_removed(connection, "paused")
    if not connections.pause(pool, connection.id):
        current = connections.get(pool, connection.id)
        _refuse_removed(current, "paused")
        return Done(False, f"{label(current)} is {since(current)} already.")
    return Done(
        True,
        f"Paused {label(connection)}: it is not polled, and its queued messages are"
        f" skipped until `koppel connections resume {connection.name}`.",
    )


def on_delete(policy: str) -> Callable[[Pool, Connection], Done]:
    """What Koppel does with a posted document deleted in Teamleader (``attention`` or
    ``reverse``; docs/architecture.md#deletions)."""

    def act(pool: Pool, connection: Connection) -> Done:
        _refuse_removed(connection, "changed")
        deletions.set_policy(pool, connection.id, policy)
        what = (
            "posts the reversing credit in Visma"
            if policy == deletions.REVERSE
            else "lists it as needing attention (koppel dlq list --status attention)"
        )
        return Done(
            True,
            f"{label(connection)}: a posted document deleted in Teamleader now {what}.",
        )

    return act


def resume(pool: Pool, connection: Connection) -> Done:
    _refuse_removed(connection, "resumed")
    reread = connections.resume(pool, connection.id)
    if reread is None:
        current = connections.get(pool, connection.id)
        _refuse_removed(current, "resumed")
        return Done(False, f"{label(current)} is not paused: it syncs.")
    again = (
        f"; the next poll reads again the {reread} documents skipped while it was paused"
        if reread
        else ""
    )
    return Done(True, f"Resumed {label(connection)}: it syncs from its next poll{again}.")


def remove(pool: Pool, connection: Connection) -> Done:
    removed = connections.remove(pool, connection.id)
    if removed is None:
        current = connections.get(pool, connection.id)
        return Done(False, f"{label(current)} was {since(current)} already.")
    kept = removed.kept
    waiting = (
        f", {removed.messages_skipped} waiting messages skipped" if removed.messages_skipped else ""
    )
    return Done(
        True,
        f"Removed {label(connection)}: it is never synced again; its"
        f" {removed.tokens_deleted} tokens and its cursors are deleted{waiting}. Its history"
        f" ({kept['history']} events, {kept['links']} links, {kept['failures']} failures)"
        f" stays readable: `koppel history DOCUMENT --connection {connection.id}`.",
    )


def confirmation(connection: Connection) -> str:
    """The question ``remove`` asks."""
    return (
        f"Remove {label(connection)}? It is never synced again and its tokens are deleted;"
        " its history stays readable"
    )
