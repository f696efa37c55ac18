"""A PostgreSQL server of a test's or a benchmark's own: ``initdb`` into a temporary folder,
``pg_ctl`` on a free port. A test or ``bench/chaos.py`` may stop it (``-m immediate``, as a
crash) and start it again without touching the shared server other engineers' tests use.
``tests/own_postgres.py`` wraps it for the tests (a skip when the binaries are missing).

Tests run as root in CI's containers, and PostgreSQL refuses to run as root: there the
server runs as the ``postgres`` user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

#: The user the server runs as when the tests run as root.
SERVER_USER = "postgres"
#: The cluster's superuser (``initdb -U``), so its URL names no user of this machine.
SUPERUSER = "koppel"
#: The database made for Koppel in the new cluster.
DATABASE = "koppel"
#: Crash-safety a throwaway cluster does not need; a stop ``-m immediate`` is still a crash
#: the server recovers from (its WAL is written, only not flushed to disk).
FAST = ("-c fsync=off", "-c full_page_writes=off", "-c max_connections=60")


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the one on PATH, else the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian keeps them off PATH); None when absent."""
    on_path = shutil.which("initdb")
    candidates = [Path(os.path.realpath(on_path)).parent] if on_path else []
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    numbered = [folder for folder in versions if folder.parent.name.isdigit()]
    candidates += sorted(numbered, key=lambda folder: int(folder.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


class OwnPostgres:
    """One cluster in ``folder`` on ``port``: :meth:`start`, :meth:`stop`, its :attr:`url`."""

    def __init__(self, binaries: Path, folder: Path, port: int) -> None:
        self.binaries = binaries
        self.folder = folder
        self.port = port
        self.data = folder / "data"
        self.log = folder / "server.log"

    @property
    def url(self) -> str:
        """Koppel's database in this cluster."""
        return self.database_url(DATABASE)

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self, timeout_s: float = 30.0) -> float:
        """Start the server; the ``time.monotonic()`` moment it first accepted a connection
        (measured here rather than by ``pg_ctl -w``, which looks only every 100 ms)."""
        options = " ".join(
            (f"-p {self.port}", f"-k {self.folder}", "-c listen_addresses=127.0.0.1", *FAST)
        )
        self._run("pg_ctl", "start", "-W", "-D", str(self.data), "-l", str(self.log), "-o", options)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.database_url("postgres"), connect_timeout=2):
                    return time.monotonic()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the test's PostgreSQL did not accept connections within {timeout_s} s;"
                        f" its log: {self.log_tail()}"
                    ) from None
                time.sleep(0.02)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; ``immediate`` is a crash: sessions are cut, recovery on start."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w")

    def create_database(self, name: str = DATABASE) -> None:
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args[:2])} failed ({done.returncode}):"
                f" {done.stderr.strip() or done.stdout.strip()}"
            )


class MissingServer(RuntimeError):
    """This machine cannot run a PostgreSQL server of its own (the message says why)."""


def _server_owner() -> pwd.struct_passwd | None:
    """The user to own the cluster's folder: ``postgres`` when running as root, else None
    (the folder stays ours)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise MissingServer(
            f"running as root, and no {SERVER_USER!r} user to run PostgreSQL as"
        ) from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A running cluster of the caller's own with an empty ``koppel`` database, removed
    afterwards; :class:`MissingServer` when this machine has no PostgreSQL server binaries."""
    binaries = server_binaries()
    if binaries is None:
        raise MissingServer(
            "initdb not found: install PostgreSQL's server (apt-get install postgresql)"
        )
    owner = _server_owner()
    folder = Path(tempfile.mkdtemp(prefix="koppel-pg-"))
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    cluster = OwnPostgres(binaries, folder, _free_port())
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError):  # never started, or stopped by its user
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
