"""Setting Koppel up from the command line: migrate, keygen, connect sandbox, connect live."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from psycopg import sql
from psycopg_pool import ConnectionPool

from config import Settings, get_settings
from ops.cli import main
from store import connections, mappings
from store.migrate import available
from store.token_store import PgTokenStore
from tests.conftest import ROOT, TODAY, Sandbox, free_port
from tests.pipeline.conftest import SESSION, TEST_TOKEN_KEY, drop_database, generated
from tests.pipeline.support import connection_clients
from tests.spec_check import SpecChecker

AUTHORIZE_URL = re.compile(r"^\s+(http://\S+/(?:oauth2|connect)/authorize\?\S+)$")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def with_extra_tax_rate(description: str, rate: float) -> dict[str, Any]:
    """The generated data set plus a tax rate of the Dutch department that Visma has no code
    for (so the proposal must leave it unmapped)."""
    dataset = generated()
    teamleader = dataset["teamleader"]
    dutch = next(d for d in teamleader["departments"] if d["name"] == "Koppel Demo B.V.")
    teamleader["taxRates"].append(
        {
            "id": str(uuid.uuid4()),
            "description": description,
            "rate": rate,
            "department": {"type": "department", "id": dutch["id"]},
        }
    )
    return dataset


# -- migrate and keygen ----------------------------------------------------------------------
@pytest.fixture
def empty_database(
    database_url: str, koppel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database of this session's without Koppel's schema, which the settings point at;
    dropped afterwards."""
    name = f"{SESSION}_migrate"
    drop_database(database_url, name)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(database_url, dbname=name)
    monkeypatch.setenv("KOPPEL_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    drop_database(database_url, name)


def test_migrate_applies_the_schema_once_and_then_says_it_is_up_to_date(
    empty_database: str,
) -> None:
    # When migrate runs twice on an empty database
    first = invoke("migrate")
    second = invoke("migrate")
    # Then the first run applies the migrations, the second changes nothing
    assert first.exit_code == 0, first.output
    shipped = [version for version, _sql in available()]
    assert all(version in first.stdout for version in shipped), first.stdout
    assert second.exit_code == 0, second.output
    assert "up to date" in second.stdout
    with psycopg.connect(empty_database) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        tables = conn.execute("SELECT count(*) FROM connections").fetchone()
    assert versions == shipped
    assert tables == (0,)


def test_keygen_prints_a_fresh_fernet_key_and_how_to_set_it() -> None:
    first = invoke("keygen")
    second = invoke("keygen")
    key = first.stdout.splitlines()[0]
    # The key works for encrypting, and each run makes another one
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"token")) == b"token"
    assert second.stdout.splitlines()[0] != key
    assert f"KOPPEL_TOKEN_KEY={key}" in first.stderr


# -- connect sandbox -------------------------------------------------------------------------
def test_connect_sandbox_stores_working_encrypted_tokens_and_prints_the_mappings(
    pool: ConnectionPool,
    settings: Settings,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    teamleader_spec: SpecChecker,
    visma_spec: SpecChecker,
) -> None:
    # Given simulators whose Dutch department has a 6 % rate Visma has no VAT code for
    sandbox.reset(with_extra_tax_rate("6% oud tarief", 0.06))
    monkeypatch.setenv("COLUMNS", "200")
    # When the sandbox is connected without --since
    result = invoke("connect", "sandbox", "--name", "cli")
    # Then the connection is stored from the first of this month, on the Dutch department
    assert result.exit_code == 0, result.output
    connection = connections.find(pool, "cli")
    assert connection.sandbox
    assert connection.sync_from == TODAY.replace(day=1)
    # and its tokens decrypt with the key and work against both simulators
    hooks = {"teamleader": teamleader_spec.hooks(), "visma": visma_spec.hooks()}
    with connection_clients(settings, pool, connection, hooks) as clients:
        department = clients.teamleader.department(connection.teamleader_department_id)
        assert department.name == "Koppel Demo B.V."
        assert clients.visma.company_settings().Name == "Koppel Demo B.V."
    # and the output names both sides, every stored mapping and the unmapped rate's fix
    assert "Teamleader department: Koppel Demo B.V." in result.stdout
    assert "Visma company: Koppel Demo B.V." in result.stdout
    rows = mappings.vat_rows(pool, connection.id)
    assert {row.vat_code for row in rows} == {"1a", "1b", "1e", "2a", "3b"}
    for row in rows:
        assert re.search(
            rf"{re.escape(row.description or '')}\s.*\s{row.vat_code}\s.*{row.revenue_account}",
            result.stdout,
        ), row
    assert "6% oud tarief" not in {row.description for row in rows}
    assert (
        "koppel mappings set --connection cli --tax-rate '6% oud tarief' --vat-code CODE "
        "--account NUMBER" in result.stdout
    )


def test_connect_sandbox_refuses_without_a_token_key_and_stores_nothing(
    pool: ConnectionPool, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KOPPEL_TOKEN_KEY")
    get_settings.cache_clear()
    result = invoke("connect", "sandbox")
    assert result.exit_code == 2
    assert "KOPPEL_TOKEN_KEY is not set" in result.stderr
    assert "koppel keygen" in result.stderr
    assert connections.active(pool) == []


# -- connect live ----------------------------------------------------------------------------
def live_env(koppel_env: dict[str, str], sandbox: Sandbox) -> dict[str, str]:
    """Settings of a live connection whose 'real' services are the simulators, registered
    with the simulators' own OAuth client."""
    settings = Settings()
    client_id = settings.sandbox_client_id
    client_secret = settings.sandbox_client_secret.get_secret_value()
    return {
        **koppel_env,
        "KOPPEL_TEAMLEADER_AUTH_URL": sandbox.teamleader_url,
        "KOPPEL_TEAMLEADER_API_URL": sandbox.teamleader_url,
        "KOPPEL_TEAMLEADER_CLIENT_ID": client_id,
        "KOPPEL_TEAMLEADER_CLIENT_SECRET": client_secret,
        "KOPPEL_VISMA_AUTH_URL": sandbox.visma_url,
        "KOPPEL_VISMA_API_URL": sandbox.visma_api_url,
        "KOPPEL_VISMA_CLIENT_ID": client_id,
        "KOPPEL_VISMA_CLIENT_SECRET": client_secret,
        "KOPPEL_REDIRECT_URI": f"http://127.0.0.1:{free_port()}/callback",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }


class Running:
    """A ``koppel`` process whose output is read line by line while it runs."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()
        # stderr is drained too, so a chatty process never blocks on a full pipe.
        self._stderr = threading.Thread(
            target=lambda: self.errors.extend(process.stderr or ()), daemon=True
        )
        self._stderr.start()

    def _read(self, stream: Iterable[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_authorize_url(self, timeout_s: float = 30.0) -> str:
        while True:
            line = self.lines.get(timeout=timeout_s)
            if line is None:
                raise AssertionError(f"exited before printing a URL: {self.seen} {self.errors}")
            self.seen.append(line)
            match = AUTHORIZE_URL.match(line)
            if match:
                return match.group(1)

    def finish(self, timeout_s: float = 60.0) -> tuple[int, str, str]:
        """(exit status, all stdout, all stderr) once the process has ended."""
        code = self.process.wait(timeout=timeout_s)
        while (line := self.lines.get(timeout=timeout_s)) is not None:
            self.seen.append(line)
        self._stderr.join(timeout_s)
        return code, "\n".join(self.seen), "".join(self.errors)


@contextmanager
def koppel_running(env: dict[str, str], *args: str) -> Iterator[Running]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Running(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def approve(authorize_url: str) -> str:
    """What the browser does: the simulator approves at once and redirects; the address."""
    response = httpx.get(authorize_url, follow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def test_connect_live_runs_the_browser_flow_for_both_services_through_the_local_callback(
    pool: ConnectionPool, koppel_env: dict[str, str], sandbox: Sandbox
) -> None:
    # Given the simulators with generated data, standing in for the real services
    sandbox.reset(generated())
    env = live_env(koppel_env, sandbox)
    with koppel_running(
        env, "connect", "live", "--name", "office", "--since", "2026-01-15", "--timeout-s", "60"
    ) as koppel:
        # When a browser follows each printed address and is redirected to the callback
        pages = []
        for authorize_path in ("/oauth2/authorize", "/connect/authorize"):
            url = koppel.next_authorize_url()
            assert authorize_path in url
            assert env["KOPPEL_REDIRECT_URI"] in httpx.URL(url).params["redirect_uri"]
            pages.append(httpx.get(approve(url), timeout=10))
        code, stdout, stderr = koppel.finish()
    # Then the callback answered the browser, and the connection is stored as a live one
    assert code == 0, stderr
    assert all(page.status_code == 200 and "close this tab" in page.text for page in pages)
    connection = connections.find(pool, "office")
    assert not connection.sandbox
    assert connection.sync_from == date(2026, 1, 15)
    for service in ("teamleader", "visma"):
        assert PgTokenStore(pool, connection.id, service, TEST_TOKEN_KEY).load().access_token
    assert len(mappings.vat_rows(pool, connection.id)) == 5
    assert "Teamleader: authorised." in stdout
    assert "Visma company: Koppel Demo B.V." in stdout


def test_connect_live_takes_pasted_redirects_and_refuses_one_with_another_state(
    pool: ConnectionPool, koppel_env: dict[str, str], sandbox: Sandbox
) -> None:
    sandbox.reset(generated())
    env = live_env(koppel_env, sandbox)
    # Given a person who pastes the Teamleader redirect as the browser showed it
    with koppel_running(env, "connect", "live", "--paste") as koppel:
        assert koppel.process.stdin is not None
        koppel.process.stdin.write(approve(koppel.next_authorize_url()) + "\n")
        koppel.process.stdin.flush()
        # When the Visma redirect pasted next carries a state this run did not send
        forged = re.sub(r"state=[^&]+", "state=forged", approve(koppel.next_authorize_url()))
        koppel.process.stdin.write(forged + "\n")
        koppel.process.stdin.flush()
        code, stdout, stderr = koppel.finish()
    # Then Teamleader was accepted, Visma refused in one sentence, and nothing stored
    assert "Teamleader: authorised." in stdout
    assert code == 1
    assert "Visma eAccounting: the redirect's state does not match this request" in stderr
    assert "Traceback" not in stderr
    assert connections.active(pool) == []


def test_connect_live_refuses_clearly_when_the_client_ids_are_not_set(
    pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given settings without Koppel's registration at Teamleader
    monkeypatch.setenv("KOPPEL_VISMA_CLIENT_ID", "visma-id")
    monkeypatch.setenv("KOPPEL_VISMA_CLIENT_SECRET", "visma-secret")
    for name in ("KOPPEL_TEAMLEADER_CLIENT_ID", "KOPPEL_TEAMLEADER_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    # When connect live runs
    result = invoke("connect", "live")
    # Then it names the two missing settings, starts no flow and stores nothing
    assert result.exit_code == 1
    assert (
        "KOPPEL_TEAMLEADER_CLIENT_ID, KOPPEL_TEAMLEADER_CLIENT_SECRET are not set" in result.stderr
    )
    assert "authorize" not in result.stdout
    assert connections.active(pool) == []
