"""``koppel sync --once``: one poll, consumed in-process until every message has an outcome."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from psycopg_pool import ConnectionPool

from ops.connecting import Connected
from store import failures, links
from tests.conftest import ROOT, Sandbox
from tests.pipeline.test_invoices import booked


def test_sync_once_posts_every_booked_invoice_and_exits_1_only_for_a_real_failure(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    # When one sync round runs as the command line does it
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "sync", "--once"],
        cwd=ROOT,
        env={**os.environ, **koppel_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Then every booked invoice of the department is posted once
    expected = len(booked(connected)) + len(booked(connected, "USD"))
    assert links.counts(pool, connected.connection.id).get("invoice") == expected, result.stdout
    summary = httpx.get(f"{sandbox.visma_url}/_sandbox/summary", timeout=10).json()
    assert (summary["ledger_items"] >= expected, summary["duplicate_ledger_items"]) == (True, 0)
    # And the exit code says whether anything needs a person
    connection_id = connected.connection.id
    open_failures = failures.listing(pool, connection_id=connection_id, statuses=("open",))
    assert result.returncode == (1 if open_failures else 0), result.stdout + result.stderr
