"""Fixtures for tests of the running system: a database of their own, clean queues, a
sandbox connection, and consumers in-process or as separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from config import Settings, get_settings
from consumers.app import reconnect
from consumers.runtime import Runtime, reset_runtime, use_runtime
from contracts.broker import purge_all
from ops.connect.connecting import Connected, connect_sandbox
from store.api_clients import ClientCache
from store.db import close_shared_pools, open_pool, shared_pool
from store.migrate import migrate
from tests.conftest import ROOT, TEST_TOKEN_KEY, TODAY, Sandbox
from tests.spec_check import SpecChecker

#: Each pytest session has its own database and RabbitMQ virtual host, so sessions that run
#: at the same time (several engineers, CI) cannot purge or truncate each other's work.
SESSION = f"koppel_test_{os.getpid()}"
TEST_DATABASE = SESSION


def _server_url() -> str:
    return get_settings().database_url


def _database_url() -> str:
    base = psycopg.conninfo.conninfo_to_dict(_server_url())
    base["dbname"] = TEST_DATABASE
    return psycopg.conninfo.make_conninfo(**base)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database of the session's own, created afresh and migrated, dropped afterwards."""
    drop_database(_server_url(), TEST_DATABASE)
    with psycopg.connect(_server_url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEST_DATABASE}")
    url = _database_url()
    with psycopg.connect(url) as conn:
        migrate(conn)
    yield url
    close_shared_pools()
    drop_database(_server_url(), TEST_DATABASE)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` (if there), connected through ``server_url`` (another one)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def koppel_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every table of Koppel's schema but the record of applied migrations (read from the
    database, so a table a new migration adds is emptied too)."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        " AND tablename <> 'schema_migrations' ORDER BY tablename"
    ).fetchall()
    return [row["tablename"] for row in rows]


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A RabbitMQ virtual host of the session's own (same server, separate queues)."""
    _rabbitmqctl("add_vhost", SESSION)
    _rabbitmqctl("set_permissions", "-p", SESSION, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@127.0.0.1:5672/{SESSION}"
    _rabbitmqctl("delete_vhost", SESSION)


def pipeline_env(
    database_url: str, sandbox: Sandbox, broker_url: str | None = None, **extra: str
) -> dict[str, str]:
    """KOPPEL_* settings for a process of the system under test."""
    teamleader_port = sandbox.teamleader_url.rsplit(":", 1)[1]
    visma_port = sandbox.visma_url.rsplit(":", 1)[1]
    return {
        "KOPPEL_DATABASE_URL": database_url,
        **({"KOPPEL_BROKER_URL": broker_url} if broker_url else {}),
        "KOPPEL_TOKEN_KEY": TEST_TOKEN_KEY,
        "KOPPEL_SANDBOX_TEAMLEADER_PORT": teamleader_port,
        "KOPPEL_SANDBOX_VISMA_PORT": visma_port,
        # Retries quickly, so a credit note waiting for its invoice is not waiting long.
        "KOPPEL_RETRY_MIN_BACKOFF_MS": "200",
        "KOPPEL_RETRY_MAX_BACKOFF_MS": "5000",
        "KOPPEL_HTTP_TIMEOUT_S": "5",
        "KOPPEL_POLL_OVERLAP_S": "5",
        # A connection's daily moment falling inside a test would add Teamleader calls to
        # those it counts; the schedule has tests of its own (test_reconcile.py).
        "KOPPEL_RECONCILE_DAILY": "false",
        **extra,
    }


@pytest.fixture
def koppel_env(
    database_url: str, broker_url: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """This process's settings point at the session's database, virtual host and simulators."""
    env = pipeline_env(database_url, sandbox, broker_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_runtime()
    close_shared_pools()
    reconnect(broker_url)
    yield env
    reset_runtime()
    close_shared_pools()
    get_settings.cache_clear()


@pytest.fixture
def settings(koppel_env: dict[str, str]) -> Settings:
    return get_settings()


@pytest.fixture
def pool(settings: Settings) -> Iterator[ConnectionPool]:
    """A pool on the test database, emptied before the test; queues purged too."""
    pool = open_pool(settings, name="koppel-test")
    with pool.connection() as conn:
        tables = sql.SQL(", ").join(sql.Identifier(name) for name in koppel_tables(conn))
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(tables))
    purge_all(settings)
    yield pool
    pool.close()


def generated(seed: int = 7, size: str = "small") -> dict[str, Any]:
    from sandbox.generate import generate_dataset

    return generate_dataset(seed, size)  # type: ignore[arg-type]


@pytest.fixture
def connected(pool: ConnectionPool, settings: Settings, sandbox: Sandbox) -> Connected:
    """A sandbox connection (NL department, Dutch company) with proposed mappings, on an
    account holding nothing but the generated account's reference data."""
    sandbox.reset(generated())
    return connect_sandbox(settings, pool, name="test", sync_from=TODAY - timedelta(days=800))


class SpecCheckedClients(ClientCache):
    """The consumers' clients, every exchange checked against the official descriptions
    (``tests/api_schemas/``), and the Visma requests they sent recorded as (method, path)."""

    def __init__(
        self, settings: Settings, pool: ConnectionPool, teamleader: SpecChecker, visma: SpecChecker
    ) -> None:
        visma_hooks = visma.hooks()
        visma_hooks["request"] = [*visma_hooks.get("request", []), self._record]
        super().__init__(
            settings, pool, event_hooks={"teamleader": teamleader.hooks(), "visma": visma_hooks}
        )
        self.visma_requests: list[tuple[str, str]] = []

    def _record(self, request: httpx.Request) -> None:
        self.visma_requests.append((request.method, request.url.path))


@pytest.fixture
def checked_runtime(
    settings: Settings,
    pool: ConnectionPool,
    teamleader_spec: SpecChecker,
    visma_spec: SpecChecker,
) -> Iterator[Runtime]:
    """The runtime in-process consumers use, its clients spec-checked."""
    shared = shared_pool(settings, name="koppel-consumer")
    runtime = Runtime(
        settings, shared, SpecCheckedClients(settings, shared, teamleader_spec, visma_spec)
    )
    use_runtime(runtime)
    yield runtime
    reset_runtime()


def start_worker(
    env: dict[str, str], *queue_names: str, threads: int = 4
) -> subprocess.Popen[bytes]:
    """``koppel work`` as a separate process, in its own session (so a test can kill it)."""
    args = [sys.executable, "-m", "ops.cli", "work", "--threads", str(threads)]
    for name in queue_names:
        args += ["--queues", name]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are not wrapped, so a row of a command's output reads as one line."""
    monkeypatch.setenv("COLUMNS", "300")
