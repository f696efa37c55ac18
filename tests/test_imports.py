"""Nothing happens at import: every module of Koppel imports in a bare environment, with no
broker, database or settings, and without connecting to anything.

The imports run in a process of their own whose environment holds only ``PATH`` and a
RabbitMQ and a PostgreSQL URL pointing at ports this test listens on: a module that
connected at import would show up there as a connection, or hang until the timeout.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from contracts import queues
from tests.conftest import ROOT

PACKAGES = (
    "config",
    "contracts",
    "clients",
    "translation",
    "store",
    "producers",
    "consumers",
    "ops",
    "sandbox",
    "bench",
)
#: No module may take longer than this to import alone (seconds): a connection attempt
#: with its retries takes longer, and a plain import far less.
SLOWEST_IMPORT_S = 5.0

#: Imports each module named on stdin, then prints what it saw as JSON.
PROBE = """
import importlib, json, sys, time, traceback

failed, slow = {}, {}
for name in sys.stdin.read().split():
    started = time.monotonic()
    try:
        importlib.import_module(name)
    except BaseException:
        failed[name] = traceback.format_exc(limit=-3)
    slow[name] = time.monotonic() - started

import dramatiq.broker
from config import get_settings

print(json.dumps({
    "failed": failed,
    "seconds": slow,
    "global_broker": repr(dramatiq.broker.global_broker),
    "settings_read": get_settings.cache_info().currsize,
}))
"""


def every_module() -> list[str]:
    """Every module of Koppel's packages, read from the files (importing none)."""
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__main__":
                continue  # running it is its purpose
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.fixture(scope="module")
def listeners() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two listening sockets standing in for RabbitMQ and PostgreSQL (never answered)."""
    sockets = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        sockets.append(sock)
    yield sockets[0], sockets[1]
    for sock in sockets:
        sock.close()


def bare_environment(rabbitmq: socket.socket, postgresql: socket.socket) -> dict[str, str]:
    broker_port = rabbitmq.getsockname()[1]
    database_port = postgresql.getsockname()[1]
    return {
        "PATH": "/usr/bin:/bin",
        "KOPPEL_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker_port}/%2F",
        "KOPPEL_DATABASE_URL": f"postgresql://koppel@127.0.0.1:{database_port}/koppel",
    }


def connections_to(sock: socket.socket) -> int:
    """How many connections reached the listening socket (accepted and closed here)."""
    count = 0
    while True:
        try:
            accepted, _ = sock.accept()
        except BlockingIOError:
            return count
        accepted.close()
        count += 1


def run_probe(code: str, stdin: str, env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_the_module_list_holds_every_package_and_its_subpackages() -> None:
    modules = every_module()
    assert set(PACKAGES) <= set(modules)
    assert {"consumers.invoices", "consumers.middleware.failures", "sandbox.visma.app"} <= set(
        modules
    )


def test_every_module_imports_in_a_bare_environment_without_connecting_or_configuring(
    listeners: tuple[socket.socket, socket.socket],
) -> None:
    rabbitmq, postgresql = listeners
    report = run_probe(PROBE, "\n".join(every_module()), bare_environment(rabbitmq, postgresql))
    assert report["failed"] == {}
    seconds = report["seconds"]
    assert isinstance(seconds, dict)
    assert {name: s for name, s in seconds.items() if s > SLOWEST_IMPORT_S} == {}
    # Dramatiq's get_broker() would have set a global broker (a default one if none was set)
    assert report["global_broker"] == "None"
    # No module read the settings: they are read when a process starts working
    assert report["settings_read"] == 0
    assert (connections_to(rabbitmq), connections_to(postgresql)) == (0, 0)


#: ``dramatiq consumers.invoices``: Dramatiq's command line imports the module, then takes
#: its global broker.
DRAMATIQ_ENTRY = """
import importlib, json, sys
import dramatiq, dramatiq.cli

importlib.import_module(sys.stdin.read().strip())
broker = dramatiq.get_broker()
from consumers.app import get_broker
print(json.dumps({"ours": broker is get_broker(), "actors": sorted(broker.actors)}))
"""


@pytest.mark.parametrize("queue", queues.ALL)
def test_dramatiq_run_on_a_queue_module_gets_koppels_broker_with_every_actor(
    queue: str, listeners: tuple[socket.socket, socket.socket]
) -> None:
    rabbitmq, postgresql = listeners
    env = bare_environment(rabbitmq, postgresql)
    report = run_probe(DRAMATIQ_ENTRY, f"consumers.{queue}", env)
    assert report == {"ours": True, "actors": sorted(queues.ALL)}
    # Made, not connected: Dramatiq connects when its worker starts
    assert (connections_to(rabbitmq), connections_to(postgresql)) == (0, 0)


def test_koppel_work_names_the_broker_function_to_dramatiq(
    listeners: tuple[socket.socket, socket.socket],
) -> None:
    code = (
        "import json\n"
        "from dramatiq.cli import import_broker\n"
        "_, broker = import_broker('consumers.app:get_broker')\n"
        "print(json.dumps({'actors': sorted(broker.actors)}))\n"
    )
    report = run_probe(code, "", bare_environment(*listeners))
    assert report == {"actors": sorted(queues.ALL)}


def test_the_root_holds_no_module_outside_the_listed_packages() -> None:
    # A new top-level package must be added to PACKAGES (and to import-linter's list).
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(PACKAGES)
