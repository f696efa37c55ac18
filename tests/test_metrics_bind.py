"""The Prometheus endpoints need no login and name every connection, so unless
``KOPPEL_METRICS_HOST`` says otherwise they listen on this machine's loopback only.

"Another address of this machine" is 127.0.0.2: Linux routes all of 127.0.0.0/8 to the
loopback device, so a socket bound to 0.0.0.0 answers there and one bound to 127.0.0.1 does
not, with no network interface needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from config import Settings
from consumers.middleware.metrics import worker_environment
from tests.conftest import ROOT, free_port

SERVE = (
    "import time\n"
    "from config import Settings\n"
    "from producers.metrics import serve\n"
    "serve(Settings())\n"
    "time.sleep(60)\n"
)


@contextmanager
def poller_metrics(**env: str) -> Iterator[int]:
    """A process serving the poller's metrics as ``koppel poll`` does; its port."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "KOPPEL_METRICS_HOST"}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        cwd=ROOT,
        env={**environment, "KOPPEL_METRICS_PORT": str(port), **env},
    )
    try:
        deadline = time.monotonic() + 20
        while not answers("127.0.0.1", port):
            assert process.poll() is None, "the metrics process exited"
            assert time.monotonic() < deadline, "the metrics endpoint never answered"
            time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait(timeout=10)


def answers(host: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/metrics", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_metrics_endpoint_listens_on_loopback_only_unless_a_host_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the metrics host left unset, then set to every interface (as compose does)
    with poller_metrics() as default_port:
        on_other_address = answers("127.0.0.2", default_port)
    with poller_metrics(KOPPEL_METRICS_HOST="0.0.0.0") as open_port:
        when_asked = answers("127.0.0.2", open_port)
    # Then by default nothing answers on another address; only when asked for
    assert not on_other_address
    assert when_asked
    # And the queue workers (Dramatiq's Prometheus middleware) are told the same host
    monkeypatch.delenv("KOPPEL_METRICS_HOST", raising=False)
    port = free_port()
    try:
        environment = worker_environment(Settings(metrics_port=port))
    finally:
        shutil.rmtree(os.path.join(tempfile.gettempdir(), f"koppel-metrics-{port}"), True)
    assert environment["dramatiq_prom_host"] == "127.0.0.1"
