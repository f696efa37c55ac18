"""Is Koppel healthy? Everything ``koppel status`` shows, gathered without click.

A connection is unhealthy (exit 1) when

* a stream has had no successful poll for more than twice the poll interval (a connection
  never polled counts from its creation), or
* it cannot authenticate: the last error of a stream is a refused authorisation (newer than
  its last success), or ``check_auth`` called the service and the grant was refused.

The poll interval is the one ``koppel poll`` really uses, recorded with each round (its
``--interval-s`` overrides the connection's ``poll_interval_s``); the configured one until a
poller recorded one; ``status --interval-s`` overrides both.

How far behind a stream is: anything changed since its last successful poll is not read yet,
so its lag is the time since that poll ("last polled"). The newest change it has seen (its
watermark) is a different thing: on a quiet account it is hours old while the stream is
up to date.

Dead letters and documents needing attention are shown but do not fail the check: they are
work for a bookkeeper, not an outage (``koppel dlq`` is where they are handled).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from clients.errors import ApiError, ReauthorizationNeeded
from config import Settings
from ops.lookups import chosen_connections
from ops.status import queue_depths
from ops.status.queue_depths import QueueDepths
from ops.time_text import duration, when
from producers.poller import STREAMS
from store import cursors, document_history, health, reconcile_runs, token_store
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import Pool
from store.token_store import TokenKeyError

#: A connection is silent after this many poll intervals without a successful poll.
SILENCE_INTERVALS = 2

#: The start of the poller's explanation when a service refused the grant
#: (``producers.poller._explain``).
REFUSED = "refused the authorisation"

SERVICES = ("teamleader", "visma")


@dataclass(frozen=True)
class StreamHealth:
    stream: str
    last_success_at: datetime | None
    #: Seconds since the last success (or since the connection was created, if never): the
    #: stream's lag, as whatever changed since then is not read yet.
    silent_for_s: float
    #: The newest change seen (the largest remote timestamp read), and its age: large on a
    #: quiet account too, so not a lag.
    watermark: datetime | None
    watermark_age_s: float | None
    last_error: str | None
    last_error_at: datetime | None
    silent: bool
    #: The interval of the poller that last polled it (s); None: one-off rounds only.
    interval_s: float | None = None

    @property
    def failing(self) -> bool:
        """Its last poll failed (an error newer than its last success)."""
        return self.last_error_at is not None and (
            self.last_success_at is None or self.last_error_at > self.last_success_at
        )


@dataclass(frozen=True)
class TokenHealth:
    service: str
    expires_at: datetime | None
    refreshed_at: datetime | None
    #: "ok", "refused: …", "error: …" after ``check_auth``; None when not checked.
    check: str | None = None

    @property
    def refused(self) -> bool:
        return self.check is not None and self.check.startswith("refused")


@dataclass(frozen=True)
class ConnectionHealth:
    name: str
    id: str
    #: The poll interval silence is judged by (s), and where it comes from: "poller" (as
    #: ``koppel poll`` last ran), "configured" (none recorded yet) or "option" (--interval-s).
    interval_s: float
    interval_from: str
    configured_interval_s: float
    created_at: datetime
    streams: list[StreamHealth]
    tokens: list[TokenHealth]
    waiting: int
    oldest_waiting_s: float | None
    failures_open: int
    failures_attention: int
    problems: list[str] = field(default_factory=list)
    #: "active", or "paused" / "removed" (`koppel connections`): not polled on purpose.
    state: str = "active"
    #: The last reconciliation (``koppel reconcile`` or the poller's daily one): when it
    #: finished and how many differences it found; None: never reconciled.
    reconciled_at: datetime | None = None
    reconcile_differences: int | None = None


@dataclass(frozen=True)
class Status:
    now: datetime
    connections: list[ConnectionHealth]
    queues: list[QueueDepths]
    #: Open dead letters of no connection in the database: malformed messages, and orphans
    #: of a connection removed while its messages waited in RabbitMQ.
    orphan_failures: int

    @property
    def problems(self) -> list[str]:
        return [problem for c in self.connections for problem in c.problems]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        body = clean(asdict(self))
        body["healthy"] = self.healthy
        body["problems"] = self.problems
        return body


def _interval(
    stored: list[cursors.Cursor], connection: Connection, override_s: float | None
) -> tuple[float, str]:
    """(interval, where from): ``status --interval-s``, else the one recorded by the
    newest successful round, else the connection's configured one."""
    if override_s:
        return float(override_s), "option"
    recorded = [c for c in stored if c.interval_s and c.last_success_at]
    if recorded:
        newest = max(recorded, key=lambda c: c.last_success_at or datetime.min.replace(tzinfo=UTC))
        return float(newest.interval_s or 0), "poller"
    return float(connection.poll_interval_s), "configured"


def _streams(
    stored_cursors: list[cursors.Cursor],
    created: datetime,
    interval_s: float,
    now: datetime,
) -> list[StreamHealth]:
    stored = {c.stream: c for c in stored_cursors}
    out = []
    for stream in STREAMS:
        cursor = stored.get(stream) or cursors.Cursor.empty(stream)
        since = cursor.last_success_at or created
        silent_for = max((now - since).total_seconds(), 0.0)
        out.append(
            StreamHealth(
                stream=stream,
                last_success_at=cursor.last_success_at,
                silent_for_s=silent_for,
                watermark=cursor.watermark,
                watermark_age_s=(now - cursor.watermark).total_seconds()
                if cursor.watermark
                else None,
                last_error=cursor.last_error,
                last_error_at=cursor.last_error_at,
                silent=silent_for > SILENCE_INTERVALS * interval_s,
                interval_s=cursor.interval_s,
            )
        )
    return out


def _check(clients_for: ClientCache, connection: Connection, service: str) -> str:
    """Call the service's cheapest endpoint with the stored grant (it refreshes the access
    token when it is due, the same way the poller would)."""
    try:
        clients = clients_for.for_connection(connection)
        if service == "teamleader":
            clients.teamleader.me()
        else:
            clients.visma.company_settings()
    except ReauthorizationNeeded as error:
        return f"refused: {error.reason}"
    except TokenKeyError as error:
        return f"refused: {error}"
    except ApiError as error:
        return f"error: {error.reason}"
    return "ok"


def _problems(health_: ConnectionHealth) -> list[str]:
    name = health_.name
    problems: list[str] = []
    silent = [s for s in health_.streams if s.silent]
    limit = f"more than twice its {health_.interval_s:g} s poll interval"
    if silent and len(silent) == len(health_.streams):
        latest = max((s.last_success_at for s in silent if s.last_success_at), default=None)
        quiet = min(s.silent_for_s for s in silent)
        since = (
            f"since {when(latest)}"
            if latest
            else f"since it was created {when(health_.created_at)}"
        )
        problems.append(
            f"connection {name!r}: no successful poll of any stream {since}"
            f" ({duration(quiet)}, {limit}); is `koppel poll` running?"
        )
    else:
        for s in silent:
            since = (
                f"since {when(s.last_success_at)}"
                if s.last_success_at
                else f"since the connection was created {when(health_.created_at)}"
            )
            error = f"; last error: {s.last_error}" if s.failing and s.last_error else ""
            problems.append(
                f"connection {name!r}, stream {s.stream}: no successful poll {since}"
                f" ({duration(s.silent_for_s)}, {limit}){error}"
            )
    refused = {
        service
        for s in health_.streams
        if s.failing and s.last_error and REFUSED in s.last_error
        for service in SERVICES
        if s.last_error.lower().startswith(service)
    }
    for token in health_.tokens:
        if token.refused:
            refused.add(token.service)
    for service in SERVICES:
        if service not in refused:
            continue
        checked = next((t.check for t in health_.tokens if t.service == service), None)
        why = (
            checked.removeprefix("refused: ")
            if checked and checked.startswith("refused")
            else "the last poll was refused"
        )
        problems.append(
            f"connection {name!r}: cannot authenticate with {service.capitalize()} ({why});"
            " authorise it again with `koppel connect`"
        )
    return problems


def gather(
    settings: Settings,
    pool: Pool,
    *,
    connection_name: str | None = None,
    check_auth: bool = False,
    interval_s: float | None = None,
    now: datetime | None = None,
) -> Status:
    """The status of every active connection (or the one named) and of the queues."""
    chosen = chosen_connections(pool, connection_name)
    depths = queue_depths.read(settings.broker_url)
    # PostgreSQL's clock: every timestamp compared with it (last success, created, oldest
    # waiting) was stamped by PostgreSQL, and this machine's clock may be off from it.
    now = now or document_history.database_now(pool)
    cache = ClientCache(settings, pool) if check_auth else None
    result = []
    try:
        for connection in chosen:
            result.append(_connection(pool, connection, cache, interval_s, now))
    finally:
        if cache is not None:
            cache.close()
    return Status(now, result, depths, health.failure_counts(pool, None).get("open", 0))


def _connection(
    pool: Pool,
    connection: Connection,
    cache: ClientCache | None,
    interval_s: float | None,
    now: datetime,
) -> ConnectionHealth:
    stored_cursors = cursors.all_for(pool, connection.id)
    interval, interval_from = _interval(stored_cursors, connection, interval_s)
    created = health.created_at(pool, connection.id)
    stored = token_store.expiries(pool, connection.id)
    token_rows = []
    for service in SERVICES:
        expires_at, refreshed_at = stored.get(service, (None, None))
        check = _check(cache, connection, service) if cache is not None else None
        if check is None and service not in stored:
            check = "refused: no tokens stored; run `koppel connect`"
        token_rows.append(TokenHealth(service, expires_at, refreshed_at, check))
    backlog = health.backlog(pool, connection.id)
    counts = health.failure_counts(pool, connection.id)
    reconciled = reconcile_runs.latest(pool, [connection.id]).get(connection.id)
    row = ConnectionHealth(
        name=connection.name,
        id=str(connection.id),
        interval_s=interval,
        interval_from=interval_from,
        configured_interval_s=float(connection.poll_interval_s),
        created_at=created,
        streams=_streams(stored_cursors, created, interval, now),
        tokens=token_rows,
        waiting=backlog.waiting,
        oldest_waiting_s=(now - backlog.oldest).total_seconds() if backlog.oldest else None,
        failures_open=counts.get("open", 0),
        failures_attention=counts.get("attention", 0),
        state=connection.state,
        reconciled_at=reconciled.finished_at if reconciled else None,
        reconcile_differences=reconciled.differences if reconciled else None,
    )
    # A paused connection is quiet on purpose: its silence is no problem.
    if connection.syncing:
        row.problems.extend(_problems(row))
    return row
