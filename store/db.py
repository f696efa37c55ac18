"""PostgreSQL connections: one pool per process, autocommit unless a transaction is opened."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from psycopg_pool.pool import AddConnection, MaintenanceTask

from config import Settings
from config.unreachable import (
    database_login_refused,
    database_missing,
    database_unreachable,
    database_url_invalid,
)
from store.migrate import require_current

#: A connection of ours: its rows are dicts (``row_factory=dict_row``), read by column name.
Conn = psycopg.Connection[DictRow]
#: The pool that hands out :data:`Conn`.
Pool = ConnectionPool[Conn]

_pools: dict[str, Pool] = {}
_pools_lock = threading.Lock()

#: A refused connection carries no SQLSTATE, only the server's message: these are its
#: English words (a server set to another language is answered as "cannot be reached").
_NO_DATABASE = re.compile(r'database "(?P<name>.+?)" does not exist')
_LOGIN_REFUSED = re.compile(
    r'role ".+?" does not exist|password authentication failed for user ".+?"'
    r"|no password supplied|no pg_hba.conf entry[^\n]*"
)


@contextmanager
def _checked_connection(url: str, timeout_s: float) -> Iterator[psycopg.Connection[Any]]:
    """A connection to ``url``; what keeps it from being made raised as the operator's answer
    (a malformed URL, a missing database, a refused login, a server that does not answer)."""
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise database_url_invalid() from None  # its message may quote the password
    try:
        conn = psycopg.connect(url, connect_timeout=max(1, int(timeout_s)), autocommit=True)
    except psycopg.OperationalError as error:
        text = str(error)
        if missing := _NO_DATABASE.search(text):
            raise database_missing(url, missing["name"]) from error
        if refused := _LOGIN_REFUSED.search(text):
            raise database_login_refused(url, refused[0]) from error
        raise database_unreachable(url, text.strip().splitlines()[0]) from error
    with conn:
        yield conn


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`ServiceUnreachable` naming PostgreSQL if it does not answer
    (:class:`ServiceRefused` or :class:`ServiceUrlInvalid` when that is why)."""
    with _checked_connection(url, timeout_s):
        pass


def database_address(url: str) -> str:
    """``host:port/dbname`` of a PostgreSQL URL or conninfo string, without credentials."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or "5432")
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}".rstrip("/")


def check_ready(url: str, timeout_s: float = 5.0) -> None:
    """Reachable, and holding every migration shipped with this Koppel: otherwise raise the
    error that says what to do (:class:`~store.migrate.SchemaNotCurrent`: run
    ``koppel migrate``). Every command that needs the schema passes here, through
    :func:`open_pool`, so none meets ``relation … does not exist`` halfway."""
    with _checked_connection(url, timeout_s) as conn:
        require_current(conn, database_address(url))


#: Benchmarks only (bench/cost.py): when set, every process counts the statements it sends
#: and writes the count to ``<dir>/<pid>`` twice a second.
STATEMENTS_DIR_ENV = "KOPPEL_BENCH_STATEMENTS_DIR"


class _StatementCounter:
    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, str(os.getpid()))
        self.count = 0
        #: Statements by their first words (``<pid>.sql``), to see which ones add up.
        self.by_text: dict[str, int] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._write_forever, daemon=True, name="statements").start()

    def add(self, query: Any, statements: int) -> None:
        text = query if isinstance(query, str) else repr(query)
        text = " ".join(text.split())[:90]
        with self._lock:
            self.count += statements
            self.by_text[text] = self.by_text.get(text, 0) + statements

    def _write_forever(self) -> None:
        while True:
            with self._lock:
                count, by_text = self.count, dict(self.by_text)
            with open(self.path, "w") as file:
                file.write(str(count))
            with open(self.path + ".sql", "w") as file:
                for text, n in sorted(by_text.items(), key=lambda item: -item[1]):
                    file.write(f"{n}\t{text}\n")
            time.sleep(0.5)


_counter: _StatementCounter | None = None
_counter_lock = threading.Lock()


class _CountingCursor(psycopg.Cursor[Any]):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if _counter is not None:
            _counter.add(query, 1)
        return super().execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        params_seq = list(params_seq)
        if _counter is not None:
            _counter.add(query, len(params_seq))
        super().executemany(query, params_seq, **kwargs)


def _counting_kwargs() -> dict[str, Any]:
    """Connection arguments that count statements, when a benchmark asked for it."""
    global _counter
    folder = os.environ.get(STATEMENTS_DIR_ENV)
    if not folder:
        return {}
    with _counter_lock:
        if _counter is None or not _counter.path.endswith(f"/{os.getpid()}"):
            _counter = _StatementCounter(folder)
    return {"cursor_factory": _CountingCursor}


#: While PostgreSQL is down, the pool tries to connect again at least this often (s).
#: psycopg_pool waits 1, 2, 4, 8… s between attempts, so after a minute's outage it came
#: back up to half a minute after the server did (issue 15: 97 s).
RECONNECT_MAX_S = 1.0

logger = logging.getLogger(__name__)


class RecoveringPool(ConnectionPool[Conn]):
    """A pool that never hands out a connection a server restart broke, and is connected
    again within :data:`RECONNECT_MAX_S` of PostgreSQL accepting connections.

    Every checkout is checked with an empty query (one round trip). Not with psycopg_pool's
    own ``check=``: it sleeps 1, 2, 4… s between failed checks, one per broken connection,
    so a restart cost a pool of six idle connections 30 s on its next checkout. Here the
    first broken one has every idle one checked at once (a restart broke them all) and the
    checkout waits for a new connection, made as soon as the server answers."""

    def getconn(self, timeout: float | None = None) -> Conn:
        waited = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + waited
        while (left := deadline - time.monotonic()) > 0:
            conn = super().getconn(left)
            try:
                _check(conn)
            except psycopg.Error as error:
                logger.info("discarding a broken PostgreSQL connection (%s)", error)
                conn.close()  # so the pool discards it whatever state it was left in
                self.putconn(conn)  # ... and makes a new one
                self.check()  # the others idle since are broken too: discarded now
                continue
            return conn
        raise PoolTimeout(f"couldn't get a working connection after {waited:.2f} sec")

    def schedule_task(self, task: MaintenanceTask, delay: float) -> None:
        if isinstance(task, AddConnection):  # a connection attempt after a failed one
            delay = min(delay, RECONNECT_MAX_S)
        super().schedule_task(task, delay)


def _check(conn: Conn) -> None:
    """One empty query, through a plain cursor: a check is no statement of Koppel's, so
    benchmarks (:data:`STATEMENTS_DIR_ENV`) do not count it. Our connections are autocommit,
    so it opens no transaction."""
    with psycopg.Cursor(conn) as cursor:
        cursor.execute("")


def open_pool(settings: Settings, *, name: str = "koppel") -> Pool:
    """A pool of autocommit connections that return rows as dicts, each checked when
    handed out (:class:`RecoveringPool`).

    Autocommit, because most statements are single upserts; a caller that needs several
    statements to commit together opens ``with conn.transaction():``. Raises, before
    opening it, when the database is unreachable or not migrated (:func:`check_ready`)."""
    check_ready(settings.database_url)
    pool = RecoveringPool(
        settings.database_url,
        connection_class=Conn,
        min_size=1,
        max_size=settings.database_pool_size,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "application_name": name,
            **_counting_kwargs(),
        },
        open=True,
        name=name,
    )
    pool.wait(timeout=10)
    return pool


def shared_pool(settings: Settings, *, name: str = "koppel") -> Pool:
    """The process's pool for this database (worker threads share it)."""
    with _pools_lock:
        pool = _pools.get(settings.database_url)
        if pool is None or pool.closed:
            pool = _pools[settings.database_url] = open_pool(settings, name=name)
        return pool


def close_shared_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


#: Where a query runs: a pool (its own short transaction) or a connection the caller holds
#: (so several writes commit together, inside the caller's ``conn.transaction()``).
Db = Pool | Conn


@contextmanager
def session(db: Db) -> Iterator[Conn]:
    if isinstance(db, ConnectionPool):
        with db.connection() as conn:
            yield conn
    else:
        yield db


def run(db: Db, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """Execute one statement; its rows when it returns any."""
    with session(db) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
