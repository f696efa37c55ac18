"""No log line shows a token, a secret or an Authorization header, in either log format.

The filter is tested on records built by hand, and the real thing on every line real Koppel
processes wrote at DEBUG — the OAuth code exchange (``koppel connect sandbox``), a poll
round and Dramatiq's worker processes (``koppel work``) — checked against the very tokens
they stored, the client secret and the token key.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from config import Settings
from config.logging import REDACTED, JsonFormatter, RedactSecrets
from store import connections
from store.token_store import PgTokenStore
from tests.conftest import ROOT, TEST_TOKEN_KEY, TODAY, Sandbox
from tests.pipeline.conftest import generated
from tests.pipeline.support import koppel_cli, wait_settled

ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWFjY2Vzcw.c2lnbmF0dXJl"
REFRESH_TOKEN = "def50200a1b2c3d4e5f60718293a4b5c"


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("httpx", logging.DEBUG, __file__, 1, msg, args, exc_info)


def formatted(entry: logging.LogRecord, formatter: logging.Formatter) -> str:
    assert RedactSecrets(("koppel-sandbox-secret", TEST_TOKEN_KEY)).filter(entry)
    return formatter.format(entry)


@pytest.mark.parametrize(
    "formatter", [logging.Formatter("%(message)s"), JsonFormatter()], ids=["text", "json"]
)
def test_the_filter_redacts_an_authorization_header_and_tokens_passed_as_arguments(
    formatter: logging.Formatter,
) -> None:
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}", "Accept": "application/json"}
    body = (
        f"grant_type=refresh_token&refresh_token={REFRESH_TOKEN}"
        "&client_id=koppel-sandbox&client_secret=koppel-sandbox-secret"
    )
    line = formatted(record("request headers=%s body=%s", headers, body), formatter)
    for secret in (ACCESS_TOKEN, REFRESH_TOKEN, "koppel-sandbox-secret"):
        assert secret not in line
    # What is not secret stays readable
    assert "application/json" in line and "koppel-sandbox" in line and REDACTED in line


def test_the_filter_redacts_tokens_in_a_traceback_and_the_token_key_anywhere() -> None:
    try:
        raise ValueError(f'token answer {{"access_token": "{ACCESS_TOKEN}"}}')
    except ValueError as error:
        entry = record("refresh failed with key %s", TEST_TOKEN_KEY, exc=error)
    line = formatted(entry, logging.Formatter("%(message)s"))
    assert "Traceback" in line and "ValueError" in line
    assert ACCESS_TOKEN not in line and TEST_TOKEN_KEY not in line


def test_the_filter_redacts_an_oauth_code_in_a_dict_repr_and_json_but_not_a_status_code() -> None:
    code = "def5020087a6b5c4d3e2f1"
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://x/cb"}
    line = formatted(
        record("exchange %s json=%s; status code: 429", form, json.dumps(form)),
        logging.Formatter("%(message)s"),
    )
    assert code not in line
    assert line.count(REDACTED) == 2
    assert "authorization_code" in line and "status code: 429" in line


def run_koppel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return koppel_cli(env, *args, timeout_s=180)


def stored_tokens(pool: ConnectionPool, name: str) -> set[str]:
    connection = connections.find(pool, name)
    tokens = set()
    for service in ("teamleader", "visma"):
        pair = PgTokenStore(pool, connection.id, service, TEST_TOKEN_KEY).load()
        tokens |= {pair.access_token, pair.refresh_token}
    return tokens


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_a_log_line_of_connect_poll_or_work_at_debug(
    log_format: str,
    tmp_path: Path,
    pool: ConnectionPool,
    settings: Settings,
    sandbox: Sandbox,
    koppel_env: dict[str, str],
) -> None:
    sandbox.reset(generated())
    env = {**koppel_env, "KOPPEL_LOG_LEVEL": "DEBUG", "KOPPEL_LOG_FORMAT": log_format}
    since = (TODAY - timedelta(days=800)).isoformat()
    # When the sandbox is connected, polled once and consumed by a worker, all at DEBUG
    connected = run_koppel(env, "connect", "sandbox", "--name", "logs", "--since", since)
    assert connected.returncode == 0, connected.stderr[-3000:]
    tokens = stored_tokens(pool, "logs")
    # (into files: DEBUG output would fill a pipe nobody reads while the test waits)
    worker_out, worker_err = tmp_path / "work.out", tmp_path / "work.err"
    with worker_out.open("wb") as out, worker_err.open("wb") as err:
        worker = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "work", "--threads", "2"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        polled = run_koppel(env, "poll", "--once")
        assert polled.returncode == 0, polled.stderr[-3000:]
        wait_settled(pool, timeout_s=120)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    tokens |= stored_tokens(pool, "logs")  # refreshed ones too, if any
    worker_logs = worker_err.read_text()
    logs = connected.stderr + polled.stderr + worker_logs
    output = connected.stdout + polled.stdout + worker_out.read_text() + logs

    # Then the logs are real: HTTP exchanges at DEBUG, from the worker processes too
    assert "HTTP Request: POST" in logs
    assert "Worker process is ready" in worker_logs
    # And no line holds a token, the client secret, the token key or a bearer credential
    secrets = {*tokens, settings.sandbox_client_secret.get_secret_value(), TEST_TOKEN_KEY}
    for line in output.splitlines():
        for secret in secrets:
            assert secret not in line, f"a secret in: {line[:300]}"
        assert not re.search(r"(?i)bearer\s+(?!\[redacted\])\S", line), line[:300]
    # And in JSON every log line is one object
    if log_format == "json":
        lines = [line for line in logs.splitlines() if line.strip()]
        assert lines
        for line in lines:
            assert isinstance(json.loads(line), dict), line[:300]
