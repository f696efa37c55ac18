"""When PostgreSQL or RabbitMQ is down, every command says which, where and how to start it.

The commands run as an operator runs them, in a process of their own, against a port on
which nothing listens: exit status 2, one message on stderr, no stack trace.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config import Settings
from config.unreachable import address_of
from tests.conftest import ROOT, TEST_TOKEN_KEY, free_port


def koppel(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A valid key, so the commands get past the token key to the service that is down.
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**os.environ, "KOPPEL_TOKEN_KEY": TEST_TOKEN_KEY, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command",
    [
        ("migrate",),
        ("check",),
        ("connect", "sandbox"),
        ("mappings", "show"),
        ("mappings", "set", "--receivables", "1300"),
        ("mappings", "propose"),
    ],
    ids=" ".join,
)
def test_a_command_needing_postgresql_names_it_its_address_and_how_to_start_it(
    command: tuple[str, ...],
) -> None:
    # Given PostgreSQL expected on a port where nothing listens
    port = free_port()
    # When the command runs
    result = koppel(*command, KOPPEL_DATABASE_URL=f"postgresql://root@127.0.0.1:{port}/koppel")
    # Then it stops with status 2 and one clear message, no traceback
    assert result.returncode == 2, result.stderr
    assert f"PostgreSQL cannot be reached at 127.0.0.1:{port}" in result.stderr
    assert "Start it with: pg_ctlcluster" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_check_names_rabbitmq_its_address_and_how_to_start_it_when_only_rabbitmq_is_down() -> None:
    port = free_port()
    result = koppel("check", KOPPEL_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{port}/%2F")
    assert result.returncode == 2, result.stderr
    assert f"PostgreSQL at {address_of(Settings().database_url)}: OK" in result.stdout
    assert f"RabbitMQ cannot be reached at 127.0.0.1:{port}" in result.stderr
    assert "Start it with: rabbitmq-server -detached" in result.stderr
    assert "guest" not in result.stderr  # the address, not the credentials
    assert "Traceback" not in result.stderr


def test_check_says_ok_when_both_services_answer() -> None:
    result = koppel("check")
    assert result.returncode == 0, result.stderr
    settings = Settings()  # what the process reads from the same environment
    assert f"PostgreSQL at {address_of(settings.database_url)}: OK" in result.stdout
    assert f"RabbitMQ at {address_of(settings.broker_url)}: OK" in result.stdout
