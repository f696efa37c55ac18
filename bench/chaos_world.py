"""The chaos suite's world: a PostgreSQL cluster and a RabbitMQ node of its own
(``bench/own_postgres.py``, ``bench/own_rabbitmq.py``), the simulators on free ports, a
sandbox connection, and Koppel's processes (``koppel work`` per queue, ``koppel poll``),
which :class:`Fleet` can SIGKILL and start again; it also starts again any that exited
on its own, as a process supervisor (systemd, Compose's ``restart: always``) would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg

from bench.harness import ROOT, free_port
from bench.own_postgres import OwnPostgres, own_postgres
from bench.own_rabbitmq import OwnRabbitMQ, own_rabbitmq
from config import Settings, get_settings
from contracts import queues
from ops.connect.connecting import connect_sandbox
from ops.dev.sandbox_session import running_sandbox
from store.connections import Connection
from store.db import Pool, open_pool
from store.migrate import migrate
from store.token_store import new_key


@dataclass
class Fleet:
    """Koppel's processes by name, each in a session of its own (so a kill takes the
    Dramatiq parent and its worker process together)."""

    env: dict[str, str]
    log_folder: Path
    commands: dict[str, list[str]]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Processes that exited without being killed here (started again by :meth:`revive`).
    exits: int = 0

    def start(self, name: str) -> None:
        with (self.log_folder / f"{name}.log").open("ab") as output:
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", *self.commands[name]],
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def start_all(self) -> None:
        for name in self.commands:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (no clean shutdown), then start it again."""
        process = self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.start(name)

    def revive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                self.exits += 1
                self.start(name)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@dataclass
class World:
    settings: Settings
    pool: Pool
    postgres: OwnPostgres
    rabbitmq: OwnRabbitMQ
    fleet: Fleet
    connection: Connection
    log_folder: Path

    @property
    def teamleader_url(self) -> str:
        return self.settings.sandbox_teamleader_url

    @property
    def visma_url(self) -> str:
        return self.settings.sandbox_visma_url


def koppel_commands(poll_interval_s: float, threads: int) -> dict[str, list[str]]:
    """One ``koppel work`` per queue and one ``koppel poll``, by name."""
    commands = {
        f"work-{queue}": ["work", "--queues", queue, "--threads", str(threads)]
        for queue in queues.ALL
    }
    commands["poll"] = ["poll", "--interval-s", str(poll_interval_s)]
    return commands


@contextmanager
def chaos_world(
    sandbox_args: Sequence[str],
    *,
    poll_interval_s: float = 1.0,
    threads: int = 4,
    extra_env: dict[str, str] | None = None,
) -> Iterator[World]:
    """Everything started, the connection made and Koppel's processes running; all
    stopped and removed afterwards (the log folder is kept and named in the report)."""
    log_folder = Path(tempfile.mkdtemp(prefix="koppel-chaos-"))
    saved = dict(os.environ)
    with ExitStack() as stack:
        postgres = stack.enter_context(own_postgres())
        with psycopg.connect(postgres.url) as conn:
            migrate(conn)
        rabbitmq = stack.enter_context(own_rabbitmq())
        env = {
            **os.environ,
            "KOPPEL_DATABASE_URL": postgres.url,
            "KOPPEL_BROKER_URL": rabbitmq.url,
            "KOPPEL_TOKEN_KEY": os.environ.get("KOPPEL_TOKEN_KEY") or new_key(),
            "KOPPEL_SANDBOX_TEAMLEADER_PORT": str(free_port()),
            "KOPPEL_SANDBOX_VISMA_PORT": str(free_port()),
            **(extra_env or {}),
        }
        os.environ.update(env)
        stack.callback(_restore_environment, saved)
        get_settings.cache_clear()
        settings = get_settings()
        pool = open_pool(settings, name="koppel-chaos")
        stack.callback(pool.close)
        stack.enter_context(running_sandbox(settings.use_sandbox(), *sandbox_args, timeout_s=300))
        connection = connect_sandbox(
            settings, pool, name="chaos", sync_from=date(date.today().year - 2, 1, 1)
        ).connection
        fleet = Fleet(env, log_folder, koppel_commands(poll_interval_s, threads))
        stack.callback(fleet.stop_all)
        fleet.start_all()
        yield World(settings, pool, postgres, rabbitmq, fleet, connection, log_folder)


def _restore_environment(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def wait_until(check: object, timeout_s: float, step_s: float = 0.2) -> bool:
    """Until ``check()`` is true (True) or ``timeout_s`` passed (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return True
        time.sleep(step_s)
    return False
