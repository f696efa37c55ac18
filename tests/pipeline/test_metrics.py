"""Prometheus endpoints: ``koppel work`` serves Dramatiq's metrics and the documents it
finished by type and outcome; ``koppel poll`` serves each stream's lag and last success."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import ConnectionPool

from contracts import queues
from ops.connect.connecting import Connected
from tests.conftest import ROOT, free_port
from tests.pipeline.conftest import start_worker
from tests.pipeline.support import set_revenue_account, wait_for

#: (metric sample name, labels) → value, as one scrape gives them.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples | None:
    """The endpoint's samples, or None while nothing answers yet."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except httpx.TransportError:
        return None
    response.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples | None, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in (samples or {}).items() if n == name and wanted <= found)


@contextmanager
def stopped_at_exit(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_work_and_poll_serve_document_counts_dramatiq_metrics_and_poll_lag(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given the 21 % rate mapped to revenue account 8150, which Visma does not have, so the
    # invoices with such a line dead-letter while the others post
    set_revenue_account(pool, connected, "21%", 8150)
    # And a consumer of every queue and a poller, each serving metrics on its own port
    work_port, poll_port = free_port(), free_port()
    worker = start_worker({**koppel_env, "KOPPEL_METRICS_PORT": str(work_port)})
    poller = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "poll", "--interval-s", "3600"],
        cwd=ROOT,
        env={**os.environ, **koppel_env, "KOPPEL_METRICS_PORT": str(poll_port)},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    with stopped_at_exit(worker), stopped_at_exit(poller):
        # When the poller has finished its round and the consumer posted an invoice and
        # dead-lettered another (the poller records a connection's streams once all five are
        # done)
        def polled_posted_and_failed() -> bool:
            assert worker.poll() is None and poller.poll() is None
            work, poll = scrape(work_port), scrape(poll_port)
            posted = value(work, "koppel_documents_total", type="invoice", outcome="posted")
            failed = value(work, "koppel_documents_total", type="invoice", outcome="failed")
            polled = value(poll, "koppel_poll_last_success_timestamp_seconds", stream="invoices")
            return posted >= 1 and failed >= 1 and polled > 0

        wait_for(
            polled_posted_and_failed,
            timeout_s=120,
            what="a round, a posting and a dead letter",
            interval_s=0.5,
        )
        work = scrape(work_port)
        poll = scrape(poll_port)

    # Then the consumer counted the dead-lettered invoice as failed
    assert value(work, "koppel_documents_total", type="invoice", outcome="failed") >= 1
    # And its endpoint has Dramatiq's own counters for the invoices queue
    assert value(work, "dramatiq_messages_total", queue_name=queues.INVOICES) >= 1
    # And the poller's has a lag and a last success per stream of the connection
    connection = connected.connection.name
    assert value(poll, "koppel_poll_lag_seconds", connection=connection, stream="invoices") > 0
    assert (
        value(
            poll,
            "koppel_poll_last_success_timestamp_seconds",
            connection=connection,
            stream="invoices",
        )
        > 0
    )
    assert value(poll, "koppel_poll_published_total", connection=connection) >= 1
