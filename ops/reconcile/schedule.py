"""The poller's daily reconciliation, without click (``ops/processes/polling.py`` calls it).

Each connection has its own moment of the day (:func:`slot_s`: from its id, so a thousand
connections spread evenly over 24 hours and the same connection keeps its moment across
restarts). When that moment has passed since its last scheduled run (or, never run, since
the poller started), the poller reconciles
the open period (this quarter, the VAT return's) on one background thread, one connection
at a time, through the connection's own clients: the same rate limiters the polls use, so
it shares the connection's budget. It yields to live changes: a connection whose round just
published something, or that has messages waiting for an outcome, waits for a quiet round.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta

from config import clock as calendar
from ops.backfill.plan import start_date
from ops.reconcile.run import Reconciled, reconcile
from store import health, reconcile_runs
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import Pool

logger = logging.getLogger(__name__)

DAY_S = 86_400
#: The period the daily run covers (``koppel reconcile --from`` keyword).
PERIOD = "this-quarter"
#: A message waiting for its outcome longer than this is no live change (it may be lost:
#: the reconciliation is what finds it), so it does not hold the daily run back.
LIVE_WINDOW = timedelta(minutes=10)


def slot_s(connection_id: uuid.UUID) -> int:
    """The connection's moment of the day, in seconds after 00:00 UTC."""
    return connection_id.int % DAY_S


def last_slot(connection_id: uuid.UUID, now: datetime) -> datetime:
    """The latest moment of the connection's slot at or before ``now``."""
    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    moment = midnight + timedelta(seconds=slot_s(connection_id))
    return moment if moment <= now else moment - timedelta(days=1)


def is_due(connection_id: uuid.UUID, now: datetime, last_run: datetime | None) -> bool:
    """Due when its slot passed after its last scheduled run (or it never ran)."""
    return last_run is None or last_run < last_slot(connection_id, now)


class DailyReconciler:
    """Starts the due reconciliations on one background thread (one at a time)."""

    def __init__(
        self,
        pool: Pool,
        cache: ClientCache,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        today: Callable[[], date] = calendar.today,
        on_done: Callable[[Connection, Reconciled], None] | None = None,
        started: datetime | None = None,
    ) -> None:
        self.pool = pool
        self.cache = cache
        self.now = now
        self.today = today
        self.on_done = on_done
        #: A connection never reconciled waits for its first moment after this: a poller
        #: started beside a thousand connections does not reconcile them all at once.
        self.started = started or now()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="reconcile")
        self._running: dict[uuid.UUID, Future[None]] = {}
        self._lock = threading.Lock()

    def consider(self, connections: Sequence[Connection], busy: set[uuid.UUID]) -> list[str]:
        """Queue the due, quiet connections (``busy``: their round just published); the
        names queued."""
        ids = [c.id for c in connections if c.syncing]
        if not ids:
            return []
        last = reconcile_runs.latest(self.pool, ids, trigger="schedule")
        now = self.now()
        queued = []
        with self._lock:
            for connection in connections:
                if not connection.syncing or connection.id in busy:
                    continue
                if connection.id in self._running and not self._running[connection.id].done():
                    continue
                run = last.get(connection.id)
                if not is_due(connection.id, now, run.finished_at if run else self.started):
                    continue
                backlog = health.backlog(self.pool, connection.id)
                if backlog.oldest is not None and backlog.oldest > now - LIVE_WINDOW:
                    continue  # live changes in flight: a quiet round comes soon
                self._running[connection.id] = self._executor.submit(self._run, connection)
                queued.append(connection.name)
        return queued

    def _run(self, connection: Connection) -> None:
        try:
            today = self.today()
            start = start_date(PERIOD, today)
            api = self.cache.for_connection(connection)
            done = reconcile(self.pool, connection, api, start, today, trigger="schedule")
            if self.on_done is not None:
                self.on_done(connection, done)
        except Exception:  # a daily job must not stop the poller; tried again next round
            logger.exception("daily reconciliation of %s failed", connection.name)

    def wait(self) -> None:
        """Until every queued run finished (tests, and a poller that stops)."""
        for future in list(self._running.values()):
            future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
