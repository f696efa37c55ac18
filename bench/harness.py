"""What every benchmark needs: simulators, a fresh database and virtual host, a sandbox
connection, Koppel processes, and ways to count (API calls, CPU, memory, statements).

A benchmark runs in its own PostgreSQL database (``<database>_bench_<name>``) and RabbitMQ
virtual host (``koppel_bench_<name>``), with the simulators on free ports, so it can run
while the tests and the demo run. Typical use::

    with bench_environment("backfill", sandbox_args=["--data", str(path)], time_scale=0.1) as b:
        connection = b.connect()
        with b.workers(2, threads=8) as processes:
            baseline = cpu_s(processes)
            b.poll_once()
            b.wait_settled(connection)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg

from config import Settings, get_settings
from contracts.broker import purge_all
from ops.connect.connecting import connect_sandbox
from ops.dev.demo import fresh_database, processes
from ops.dev.sandbox_session import running_sandbox
from store import message_log
from store.connections import Connection
from store.db import STATEMENTS_DIR_ENV, Pool, open_pool
from store.token_store import new_key

ROOT = Path(__file__).resolve().parent.parent
#: Clock ticks per second, for /proc/<pid>/stat's utime and stime.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- data --------------------------------------------------------------------------------------
def bench_dataset(
    invoices: int, *, credit_notes: int, seed: int = 1, folder: Path | None = None
) -> Path:
    """A data set file with ``invoices`` booked invoices of the Dutch department (the one a
    sandbox connection picks), their customers only, and up to ``credit_notes`` credit notes
    of those invoices. Cached in ``folder``, by default the temp folder (generating 12,000
    invoices takes ~20 s); a test passes a folder of its own."""
    folder = folder or Path(tempfile.gettempdir())
    path = folder / f"koppel-bench-{seed}-{invoices}-{credit_notes}-v2.json"
    if path.exists():
        return path
    from sandbox.generate import generate_dataset
    from sandbox.teamleader import generate as teamleader_generate

    # Two departments share the invoices, some are drafts: generate enough, then keep the
    # first ``invoices`` booked ones of the Dutch department.
    made = max(invoices * 2 + invoices // 5, 200)
    teamleader_generate.SIZES["bench"] = (max(made // 6, 30), made, made // 20)
    try:
        # "bench" is no Size: the size registered in SIZES just above, for this call only.
        data: dict[str, Any] = generate_dataset(seed, "bench")  # type: ignore[arg-type]
    finally:
        del teamleader_generate.SIZES["bench"]
    tl = data["teamleader"]
    dutch = next(d["id"] for d in tl["departments"] if d["address"]["country"] == "NL")
    kept = [i for i in tl["invoices"] if i["department"]["id"] == dutch and i["status"] != "draft"][
        :invoices
    ]
    kept_ids = {i["id"] for i in kept}
    customers = {_customer_id(i) for i in kept}
    notes = [
        c
        for c in tl["creditNotes"]
        if c["department"]["id"] == dutch and c["invoice"] and c["invoice"]["id"] in kept_ids
    ][:credit_notes]
    customers |= {_customer_id(c) for c in notes}
    tl["invoices"] = kept
    tl["creditNotes"] = notes
    tl["contacts"] = [c for c in tl["contacts"] if c["id"] in customers]
    tl["companies"] = [c for c in tl["companies"] if c["id"] in customers]
    # The generator leaves some postal codes out on purpose (the demo's refused customers);
    # a benchmark measures the clean path, so every customer gets one.
    for customer in tl["contacts"] + tl["companies"]:
        for address in customer.get("addresses") or []:
            if address.get("address") and not address["address"].get("postal_code"):
                address["address"]["postal_code"] = "1012 LG"
    if len(kept) < invoices:
        raise RuntimeError(f"generated only {len(kept)} booked Dutch invoices of {invoices}")
    path.write_text(json.dumps(data, default=str))
    return path


def _customer_id(document: dict[str, Any]) -> str | None:
    customer = (document.get("invoicee") or {}).get("customer") or {}
    return customer.get("id")


def dataset_counts(path: Path) -> dict[str, int]:
    tl = json.loads(path.read_text())["teamleader"]
    return {
        "invoices": len(tl["invoices"]),
        "credit notes": len(tl["creditNotes"]),
        "customers": len(tl["contacts"]) + len(tl["companies"]),
    }


# -- processes: CPU and memory -----------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (Dramatiq forks its worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) of these processes and all their descendants: the live
    ones, and the ones that exited, which Linux adds to their parent's children's times
    when it reaps them (a PostgreSQL backend whose session closed; a restarted worker)."""
    return sum(_cpu_with_reaped_s(pid) for root in pids for pid in process_tree(root))


def _cpu_with_reaped_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # gone: its parent's reaped times hold it now
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), in clock ticks
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS


def service_roots(*commands: str) -> list[int]:
    """The topmost processes named ``commands`` (/proc/<pid>/comm): PostgreSQL's postmaster
    for ``postgres`` (its backends are its children), RabbitMQ's Erlang VM for ``beam.smp``."""
    named = set(pids_named(*commands))
    return [pid for pid in named if _parent(pid) not in named]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def pids_named(*commands: str) -> list[int]:
    """Processes whose command name (/proc/<pid>/comm) is one of ``commands``: PostgreSQL's
    backends (``postgres``), RabbitMQ's Erlang VM (``beam.smp``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in commands:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_by_process(roots: Sequence[int]) -> dict[int, float]:
    """Peak RSS (MiB) of every process in the trees (the Dramatiq parent and its workers)."""
    peaks = {}
    for root in roots:
        for pid in process_tree(root):
            try:
                peaks[pid] = peak_rss_mb(pid)
            except OSError:
                continue
    return peaks


def machine_busy_s() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat: user, nice,
    system, irq, softirq, steal; not idle or iowait): the simulators, PostgreSQL and
    RabbitMQ included, which per-process figures leave out."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


# -- one benchmark's world ---------------------------------------------------------------------
@dataclass
class BenchEnvironment:
    name: str
    settings: Settings
    pool: Pool
    env: dict[str, str]
    log_folder: Path
    statements_folder: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def teamleader_url(self) -> str:
        return self.settings.sandbox_teamleader_url

    @property
    def visma_url(self) -> str:
        return self.settings.sandbox_visma_url

    def sandbox_pid(self) -> int | None:
        """The simulators' process (started by ``running_sandbox``), found by its port."""
        port = str(self.settings.sandbox_teamleader_port).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"sandbox" in argv and port in argv:
                return int(entry.name)
        return None

    def connect(self, sync_from: date | None = None) -> Connection:
        return connect_sandbox(
            self.settings,
            self.pool,
            name=f"bench-{self.name}",
            sync_from=sync_from or date(date.today().year - 2, 1, 1),
        ).connection

    @contextmanager
    def workers(
        self, count: int, *, threads: int = 8, queues: Sequence[str] = ()
    ) -> Iterator[list[subprocess.Popen[bytes]]]:
        """``count`` ``koppel work`` processes (each one Dramatiq worker process)."""
        queue_args = [arg for queue in queues for arg in ("--queues", queue)]
        command = ["work", *queue_args, "--threads", str(threads), "--processes", "1"]
        with ExitStack() as stack:
            started = []
            for n in range(count):
                folder = self.log_folder / f"worker-{n}"
                folder.mkdir(exist_ok=True)
                started += stack.enter_context(processes([command], self.env, folder))
            self._await_consumers(started)
            yield started

    def _await_consumers(self, started: list[subprocess.Popen[bytes]]) -> None:
        """Until every worker process has imported its actors (its CPU stops climbing)."""
        deadline = time.monotonic() + 60
        last = -1.0
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if any(p.poll() is not None for p in started):
                raise RuntimeError(f"a worker exited; see {self.log_folder}")
            now = cpu_s([p.pid for p in started])
            if now - last < 0.05 and all(len(process_tree(p.pid)) > 1 for p in started):
                return
            last = now

    def poll_once(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "ops.cli", "poll", "--once"],
            env=self.env,
            capture_output=True,
            timeout=3600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"koppel poll --once failed:\n{done.stderr.decode()[-3000:]}")

    def wait_settled(self, connection: Connection, timeout_s: float = 3600.0) -> float:
        """Until every published message has an outcome; the monotonic time it happened."""
        deadline = time.monotonic() + timeout_s
        while message_log.waiting(self.pool, [connection.id]) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not settled within {timeout_s:.0f} s; see {self.log_folder}")
            time.sleep(0.1)
        return time.monotonic()

    def sandbox_stats(self, reset: bool = False) -> dict[str, dict[str, Any]]:
        """Calls and statuses each simulator counted (``/_sandbox/stats``; OAuth excluded)."""
        method = "DELETE" if reset else "GET"
        return {
            service: httpx.request(method, f"{url}/_sandbox/stats", timeout=10).json()
            for service, url in (("teamleader", self.teamleader_url), ("visma", self.visma_url))
        }

    def visma_summary(self) -> dict[str, Any]:
        return httpx.get(f"{self.visma_url}/_sandbox/summary", timeout=30).json()

    def statements(self, pids: Collection[int] | None = None) -> int:
        """Statements sent so far by the processes started here (or by these of them)."""
        return sum(
            int(f.read_text() or 0)
            for f in self.statements_folder.iterdir()
            if f.name.isdigit() and (pids is None or int(f.name) in pids)
        )

    def statements_by_text(self, pids: Sequence[int]) -> dict[str, int]:
        """Statements sent so far by these processes, by their first words."""
        totals: dict[str, int] = {}
        for pid in pids:
            path = self.statements_folder / f"{pid}.sql"
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                count, _, text = line.partition("\t")
                totals[text] = totals.get(text, 0) + int(count)
        return totals


def _database_url(base: Settings, name: str) -> str:
    parts = psycopg.conninfo.conninfo_to_dict(base.database_url)
    parts["dbname"] = f"{parts.get('dbname') or 'koppel'}_bench_{name}"
    return psycopg.conninfo.make_conninfo("", **parts)


@contextmanager
def bench_environment(
    name: str,
    *,
    sandbox_args: Sequence[str] = (),
    time_scale: float = 1.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[BenchEnvironment]:
    """A fresh database and virtual host, the simulators on free ports, this process's
    settings pointed at them; all removed afterwards."""
    # A benchmark stopped with SIGTERM still stops its processes and drops its database.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    base = get_settings()
    vhost = f"koppel_bench_{name}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    log_folder = Path(tempfile.mkdtemp(prefix=f"koppel-bench-{name}-"))
    statements_folder = log_folder / "statements"
    statements_folder.mkdir()
    env = {
        **os.environ,
        "KOPPEL_DATABASE_URL": _database_url(base, name),
        "KOPPEL_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "KOPPEL_TOKEN_KEY": base.token_key.get_secret_value() or new_key(),
        "KOPPEL_SANDBOX_TEAMLEADER_PORT": str(free_port()),
        "KOPPEL_SANDBOX_VISMA_PORT": str(free_port()),
        "KOPPEL_SANDBOX_TIME_SCALE": str(time_scale),
        **(extra_env or {}),
    }
    saved = dict(os.environ)
    os.environ.update(env)
    # Only the processes the benchmark starts count their statements, not this one.
    env[STATEMENTS_DIR_ENV] = str(statements_folder)
    get_settings.cache_clear()
    settings = get_settings()
    fresh_database(base, settings.database_url)
    purge_all(settings)
    pool = open_pool(settings, name=f"koppel-bench-{name}")
    try:
        with ExitStack() as stack:
            for attempt in range(3):
                try:
                    stack.enter_context(
                        running_sandbox(
                            settings.use_sandbox(),
                            "--time-scale",
                            str(time_scale),
                            *sandbox_args,
                            timeout_s=300,
                        )
                    )
                    break
                except RuntimeError:
                    # A free port was taken between choosing it and listening: choose again.
                    if attempt == 2:
                        raise
                    ports = {
                        "KOPPEL_SANDBOX_TEAMLEADER_PORT": str(free_port()),
                        "KOPPEL_SANDBOX_VISMA_PORT": str(free_port()),
                    }
                    env.update(ports)
                    os.environ.update(ports)
                    get_settings.cache_clear()
                    settings = get_settings()
            yield BenchEnvironment(name, settings, pool, env, log_folder, statements_folder)
    finally:
        pool.close()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        with psycopg.connect(base.database_url, autocommit=True) as conn:
            dbname = psycopg.conninfo.conninfo_to_dict(settings.database_url)["dbname"]
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        _rabbitmqctl("delete_vhost", vhost)
