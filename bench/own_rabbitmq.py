"""A RabbitMQ node of a benchmark's own: its own node name, AMQP and distribution ports,
database and logs in a temporary folder, so ``bench/chaos.py`` can SIGKILL it and start it
again without touching the shared node other engineers' tests use.

The node reads a config file of its own (``RABBITMQ_CONFIG_FILE``): the machine's
``/etc/rabbitmq/rabbitmq.conf`` names the shared node's listener (127.0.0.1:5672), which
``RABBITMQ_NODE_PORT`` does not override, so a node started with it alone fails with
``eaddrinuse``. When running as root the node runs as the ``rabbitmq`` user (``runuser``),
as the packaged scripts do, so it and ``rabbitmqctl`` share that user's Erlang cookie.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The packaged scripts (the ones on PATH are wrappers that switch user themselves).
SCRIPTS = Path("/usr/lib/rabbitmq/bin")
SERVER_USER = "rabbitmq"


class MissingBroker(RuntimeError):
    """This machine cannot run a RabbitMQ node of its own (the message says why)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRabbitMQ:
    """One node: :meth:`start`, :meth:`kill` (SIGKILL), :meth:`stop`, its :attr:`url`."""

    def __init__(self, folder: Path, port: int, dist_port: int, name: str) -> None:
        self.folder = folder
        self.port = port
        self.dist_port = dist_port
        self.node = f"{name}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        # guest may log in over loopback, which is how Koppel reaches this node.
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        home = pwd.getpwnam(SERVER_USER).pw_dir if os.geteuid() == 0 else os.environ["HOME"]
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
        }

    def _command(self, script: str, *args: str) -> list[str]:
        command = [str(SCRIPTS / script), *args]
        if os.geteuid() == 0:
            env = [f"{key}={value}" for key, value in self._env().items()]
            return ["runuser", "-u", SERVER_USER, "--", "env", *env, *command]
        return command

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the node; the ``time.monotonic()`` moment it accepted an AMQP connection."""
        log = (self.folder / "server.out").open("ab")
        self.process = subprocess.Popen(
            self._command("rabbitmq-server"),
            env={**os.environ, **self._env()},
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return time.monotonic()
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise MissingBroker(
                    f"the node {self.node} did not listen on {self.port} within {timeout_s} s;"
                    f" its logs are in {self.folder}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the Erlang VM (a crash: no clean shutdown, connections cut)."""
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((self.folder / "pid").read_text().strip()), signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(
            self._command("rabbitmqctl", "-q", "-n", self.node, "stop"),
            capture_output=True,
            timeout=60,
        )
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


@contextmanager
def own_rabbitmq() -> Iterator[OwnRabbitMQ]:
    """A running node of the caller's own, stopped and removed afterwards."""
    if not (SCRIPTS / "rabbitmq-server").is_file():
        raise MissingBroker(f"{SCRIPTS / 'rabbitmq-server'} not found: install rabbitmq-server")
    folder = Path(tempfile.mkdtemp(prefix="koppel-rmq-"))
    port = _free_port()
    (folder / "rabbitmq.conf").write_text(
        f"listeners.tcp.local = 127.0.0.1:{port}\n"
        # The shared node's disk alarm would not be ours to raise.
        "disk_free_limit.absolute = 50MB\n"
    )
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SERVER_USER)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        os.chown(folder / "rabbitmq.conf", owner.pw_uid, owner.pw_gid)
    node = OwnRabbitMQ(folder, port, _free_port(), f"koppel-chaos-{uuid.uuid4().hex[:8]}")
    try:
        node.start()
        yield node
    finally:
        with contextlib.suppress(Exception):
            node.stop()
        with contextlib.suppress(Exception):
            node.kill()
        shutil.rmtree(folder, ignore_errors=True)
