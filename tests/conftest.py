"""Shared fixtures: the simulators as a real process over HTTP, and the spec checks.

The sandbox process starts once per test session on free ports; each test that uses it
starts from a known state through the simulators' ``/_sandbox/reset`` controls.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest

from clients.http import ApiSession
from clients.oauth import RefreshingAuth
from sandbox import clock
from tests.spec_check import SpecChecker

ROOT = Path(__file__).resolve().parents[1]
#: The calendar day every test takes as today, in this process and in every process it
#: starts (Koppel's KOPPEL_TODAY, the simulators' --today): generated documents, fiscal
#: years and "this month" are the same whatever day the suite runs. A mid-month, mid-year
#: day before any real run; tests of the calendar's edges (year and quarter ends, leap
#: days) pass their own day to the pure functions they test.
TODAY = date(2026, 6, 15)
os.environ["KOPPEL_TODAY"] = TODAY.isoformat()
clock.pin_today(TODAY)
#: A fixed Fernet key for tests only (it encrypts the simulators' tokens).
TEST_TOKEN_KEY = "n0VKG3G8a4ZlX2D0n3jUuTc3JZ1rjsCxKvG3XJq1l1s="


def bearer_headers(session: ApiSession) -> dict[str, str]:
    """The ``Authorization`` header a client's session would send now (for raw requests)."""
    auth = session.http.auth
    assert isinstance(auth, RefreshingAuth)
    return {"Authorization": f"Bearer {auth.store.load().access_token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Set by CI (``.ci/run``): a test that would skip for want of something fails instead.
STRICT_ENV = "KOPPEL_TESTS_STRICT"


def skip_unless_strict(reason: str) -> None:
    """Skip the calling test because something it needs is not here (``reason``: one line
    saying what is missing and how to get it); with ``KOPPEL_TESTS_STRICT=1`` fail instead,
    so CI never skips it. Never returns."""
    __tracebackhide__ = True  # the skip is reported at the calling test's line
    if os.environ.get(STRICT_ENV) == "1":
        pytest.fail(f"{reason} (not skipped: {STRICT_ENV}=1)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Sandbox:
    teamleader_url: str
    visma_url: str
    process: subprocess.Popen[bytes]

    @property
    def visma_api_url(self) -> str:
        return f"{self.visma_url}/v2"

    def reset(self, dataset: dict | None = None) -> None:
        """Both simulators back to the given data set (default: empty account, Dutch company)."""
        dataset = dataset or {}
        for url, part in (
            (self.teamleader_url, dataset.get("teamleader") or {}),
            (self.visma_url, dataset.get("visma") or {}),
        ):
            response = httpx.post(f"{url}/_sandbox/reset", json=part, timeout=30)
            response.raise_for_status()
            httpx.delete(f"{url}/_sandbox/faults", timeout=5).raise_for_status()
            httpx.delete(f"{url}/_sandbox/stats", timeout=5).raise_for_status()


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited early with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s} s")


def start_sandbox(*extra_args: str, env: dict[str, str] | None = None) -> Sandbox:
    teamleader_port, visma_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "sandbox",
            "--empty",
            "--teamleader-port",
            str(teamleader_port),
            "--visma-port",
            str(visma_port),
            *extra_args,
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    wait_until_listening(teamleader_port, process, 30)
    wait_until_listening(visma_port, process, 30)
    return Sandbox(f"http://127.0.0.1:{teamleader_port}", f"http://127.0.0.1:{visma_port}", process)


@contextmanager
def sandbox_running(*extra_args: str) -> Iterator[Sandbox]:
    """A sandbox process of its own (e.g. ``"--time-scale", "0.1"``), stopped afterwards."""
    sandbox = start_sandbox(*extra_args)
    try:
        yield sandbox
    finally:
        sandbox.process.terminate()
        try:
            sandbox.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a request held by a fault plan keeps it busy
            sandbox.process.kill()
            sandbox.process.wait(timeout=10)


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[Sandbox]:
    with sandbox_running() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_process: Sandbox) -> Sandbox:
    """The simulators, reset to an empty Teamleader account and the default Dutch company."""
    sandbox_process.reset()
    return sandbox_process


@pytest.fixture
def teamleader_spec() -> Iterator[SpecChecker]:
    """Checks every exchange of a client it is hooked into against the Teamleader description."""
    checker = SpecChecker("teamleader")
    yield checker
    checker.assert_clean()


@pytest.fixture
def visma_spec() -> Iterator[SpecChecker]:
    """Checks every exchange of a client it is hooked into against the Visma description."""
    checker = SpecChecker("visma", prefix="/v2")
    yield checker
    checker.assert_clean()
