"""A newcomer's mistakes, each run through the real ``koppel`` command as its own process:
every one is answered with a sentence of advice on stderr (exit 2), never a traceback.

The services are real: databases created and dropped here, RabbitMQ on 127.0.0.1:5672 with
a virtual host that does not exist or a wrong password, a port held open by a socket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from config import Settings
from ops.connect.connecting import Connected
from store.db import run
from store.migrate import available
from tests.conftest import ROOT, TEST_TOKEN_KEY, TODAY, free_port
from tests.pipeline.conftest import drop_database

#: A password the services ignore (PostgreSQL trusts local connections) or refuse
#: (RabbitMQ), which must never appear in an answer.
SECRET = "hunter2-never-shown"


def koppel(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """``koppel ARGS`` as an operator runs it from a script: its own process, no terminal
    on stdin, a valid token key (so a command gets past it to the mistake under test)."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**os.environ, "KOPPEL_TOKEN_KEY": TEST_TOKEN_KEY, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def assert_advice(result: subprocess.CompletedProcess[str], *advice: str, status: int = 2) -> None:
    """Exit ``status``, one to three lines on stderr holding every piece of ``advice``, no
    stack trace and no password."""
    __tracebackhide__ = True
    lines = result.stderr.splitlines()
    assert result.returncode == status, result.stdout + result.stderr
    assert 1 <= len(lines) <= 3, result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    for piece in advice:
        assert piece in result.stderr


def server_url() -> str:
    return Settings().database_url


def url_of(name: str, *, password: str | None = None) -> str:
    """The URL of database ``name`` on the test server (with a password it does not need)."""
    parts = psycopg.conninfo.conninfo_to_dict(server_url())
    return (
        f"postgresql://{parts.get('user') or 'root'}{':' + password if password else ''}"
        f"@{parts.get('host') or '127.0.0.1'}:{parts.get('port') or 5432}/{name}"
    )


@pytest.fixture
def new_database() -> Iterator[Callable[[], str]]:
    """Makes empty databases of this test's own (their names); drops them afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"koppel_mistakes_{os.getpid()}_{len(made)}"
        drop_database(server_url(), name)
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return name

    yield make
    for name in made:
        drop_database(server_url(), name)


def migrate_all_but_the_newest(url: str) -> str:
    """Leave the database as the Koppel before the newest migration left it; that
    migration's version (read from store/migrations now, like the check itself)."""
    *older, (newest, _) = available()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, sql in older:
            conn.execute(sql)  # type: ignore[arg-type]  # ours, shipped with the code
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [version])
    return newest


# -- the schema --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("poll", "--once"),
        ("connect", "sandbox"),
        ("work",),
        ("mappings", "show"),
        ("dlq", "list"),
        ("history", "17"),
        ("sync", "--once"),
    ],
    ids=" ".join,
)
def test_a_command_needing_the_schema_on_a_database_never_migrated_says_run_koppel_migrate(
    command: tuple[str, ...], new_database: Callable[[], str]
) -> None:
    # Given a database that exists, empty, reached with a password PostgreSQL ignores
    name = new_database()
    # When the command runs before `koppel migrate`
    result = koppel(*command, env={"KOPPEL_DATABASE_URL": url_of(name, password=SECRET)})
    # Then it names the database, without the password, and says what to run
    where = url_of(name).partition("@")[2]  # host:port/name
    assert_advice(result, f"the database at {where} has no Koppel schema", "koppel migrate")
    assert "UndefinedTable" not in result.stderr


@pytest.mark.parametrize("command", [("work",), ("poll",), ("poll", "--once")], ids=" ".join)
def test_work_and_poll_refuse_to_start_on_a_schema_without_the_newest_migration(
    command: tuple[str, ...], new_database: Callable[[], str]
) -> None:
    # Given a database migrated by the Koppel before the newest migration
    name = new_database()
    newest = migrate_all_but_the_newest(url_of(name))
    # When a consumer or the poller starts (left running, they would outlast the timeout)
    result = koppel(*command, env={"KOPPEL_DATABASE_URL": url_of(name)}, timeout_s=60)
    # Then it refuses, naming the missing migration and the fix
    assert_advice(result, "has an older Koppel schema", newest, "run `koppel migrate`")
    # And after `koppel migrate` applied it, the poller gets past the check
    migrated = koppel("migrate", env={"KOPPEL_DATABASE_URL": url_of(name)})
    assert migrated.returncode == 0, migrated.stderr
    assert newest in migrated.stdout
    once = koppel("poll", "--once", env={"KOPPEL_DATABASE_URL": url_of(name)})
    assert once.returncode == 0, once.stderr
    assert "No active connections" in once.stdout


# -- PostgreSQL --------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [("status",), ("migrate",), ("check",)], ids=" ".join)
def test_a_database_name_that_does_not_exist_is_named_with_how_to_create_it(
    command: tuple[str, ...],
) -> None:
    name = f"koppel_nowhere_{os.getpid()}"
    drop_database(server_url(), name)
    result = koppel(*command, env={"KOPPEL_DATABASE_URL": url_of(name, password=SECRET)})
    # The server is up: not "cannot be reached", not "start it"
    assert_advice(result, f'has no database "{name}"', f"createdb {name}", "CREATE DATABASE")
    assert "cannot be reached" not in result.stderr
    assert "pg_ctlcluster" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "localhost:5432/koppel",
        f"root:{SECRET}@127.0.0.1:5432/koppel",
        f"postgresql://root:{SECRET}@[::1:5432/koppel",
        "postgresql://root@127.0.0.1:5432/koppel?colour=blue",
    ],
)
def test_a_database_url_that_is_not_one_names_the_variable_and_the_expected_form(
    url: str,
) -> None:
    result = koppel("status", env={"KOPPEL_DATABASE_URL": url})
    assert_advice(result, "KOPPEL_DATABASE_URL", "postgresql://user@host:5432/dbname")


# -- RabbitMQ ----------------------------------------------------------------------------------
#: RabbitMQ is checked by these before they start (work: on a migrated database).
BROKER_COMMANDS = [("check",), ("work",)]


@pytest.mark.parametrize("command", BROKER_COMMANDS, ids=" ".join)
def test_a_rabbitmq_virtual_host_that_does_not_exist_is_told_apart_from_a_server_that_is_down(
    command: tuple[str, ...], database_url: str
) -> None:
    vhost = f"koppel_nowhere_{os.getpid()}"
    broker_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    result = koppel(
        *command, env={"KOPPEL_DATABASE_URL": database_url, "KOPPEL_BROKER_URL": broker_url}
    )
    assert_advice(
        result, f"RabbitMQ at 127.0.0.1:5672 has no virtual host '{vhost}'", "rabbitmqctl add_vhost"
    )
    assert "rabbitmq-server -detached" not in result.stderr


@pytest.mark.parametrize("command", BROKER_COMMANDS, ids=" ".join)
def test_a_wrong_rabbitmq_password_is_access_refused_not_a_server_to_start(
    command: tuple[str, ...], database_url: str
) -> None:
    broker_url = f"amqp://guest:{SECRET}@127.0.0.1:5672/%2F"
    result = koppel(
        *command, env={"KOPPEL_DATABASE_URL": database_url, "KOPPEL_BROKER_URL": broker_url}
    )
    assert_advice(result, "refused user 'guest' (access refused)", "KOPPEL_BROKER_URL")
    assert "rabbitmq-server -detached" not in result.stderr


def test_a_broker_url_that_is_not_one_names_the_variable_and_the_expected_form() -> None:
    result = koppel("check", env={"KOPPEL_BROKER_URL": f"guest:{SECRET}@127.0.0.1:5672"})
    assert_advice(result, "KOPPEL_BROKER_URL", "amqp://user:password@host:5672/vhost")


# -- the simulators ----------------------------------------------------------------------------
@pytest.mark.parametrize("taken", ["teamleader", "visma"])
def test_the_sandbox_on_a_port_in_use_names_the_port_and_how_to_choose_another(
    taken: str,
) -> None:
    # Given something listening on the port one simulator is to use
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        ports = {"teamleader": free_port(), "visma": free_port(), taken: busy}
        # When the sandbox starts (serving, it would outlast the timeout)
        result = koppel(
            "sandbox",
            "--empty",
            "--teamleader-port",
            str(ports["teamleader"]),
            "--visma-port",
            str(ports["visma"]),
            timeout_s=60,
        )
    assert_advice(
        result,
        f"cannot listen on 127.0.0.1:{busy}",
        "in use",
        f"--{taken}-port",
        f"KOPPEL_SANDBOX_{taken.upper()}_PORT",
    )


# -- backfill ----------------------------------------------------------------------------------
def test_backfill_without_yes_and_without_a_terminal_says_it_needs_yes_and_writes_nothing(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given documents to post, and a backfill run from a script (stdin is not a terminal)
    start = TODAY.replace(year=TODAY.year - 1, month=1, day=1)
    result = koppel(
        "backfill",
        "--from",
        start.isoformat(),
        "--anyway",
        "--no-workers",
        env=koppel_env,
        timeout_s=300,
    )
    # Then it says it cannot ask and what to add, instead of click's bare "Aborted!"
    assert_advice(result, "cannot ask for confirmation without a terminal", "--yes")
    assert "Aborted!" not in result.stderr
    # And nothing was queued
    assert run(pool, "SELECT count(*) AS n FROM messages") == [{"n": 0}]
