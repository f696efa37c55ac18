"""Many connections: one ``koppel poll`` process serving 1,000 idle connections.

``python -m bench.many_connections [--connections 1000] [--interval-s 60] [--rounds 3]
[--small] [--no-profile]``

Each connection is a Teamleader account and a Visma company of its own in the simulators
(a department, tax rates and a few customers last changed before today; no documents), so
every stream's query returns nothing: the poller's pure overhead. Connections are made the
way ``koppel connect sandbox`` makes them (the OAuth authorization-code flow against the
simulators), on a few threads. Then one ``koppel poll --interval-s N`` process runs
``--rounds`` rounds; a round is over when every connection printed its summary line.

Measured on the poller process only (/proc/<pid>/stat utime+stime, /proc/<pid>/status
VmHWM); the simulators run on the same cores and their CPU is given in the notes. API
calls per round come from the simulators' ``/_sandbox/stats``. Afterwards ``koppel poll
--once`` runs under py-spy over the same connections and the heaviest functions are listed.

Goal (issue 5): a full round in under 60 s of wall time, and under 5 % of one core averaged
over the interval.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import click
import httpx
from rich.table import Table

from bench.harness import BenchEnvironment, bench_environment, cpu_s, load_average, peak_rss_mb
from bench.latency import Calls, api_calls, fault_plan
from bench.results import report
from ops.connect.connecting import connect_sandbox
from sandbox.generate import generate_dataset

#: Threads that create accounts and connections (the simulators serve them one by one).
CONNECT_THREADS = 8
#: Customers per idle account (contacts and companies each).
CUSTOMERS_PER_KIND = 3
NAME_PREFIX = "many-"
#: Where Koppel's own frames are, for the profile table.
KOPPEL_PACKAGES = ("clients", "config", "contracts", "ops", "producers", "store")
SUMMARY_LINE = re.compile(rf"^{NAME_PREFIX}\d+: ")


def idle_account_part(today: date) -> dict[str, Any]:
    """A Teamleader account with reference data and a few customers, none changed today."""
    part = generate_dataset(1, "small")["teamleader"]

    def old(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["updated_at"][:10] < today.isoformat()]

    contacts = [c for c in old(part["contacts"]) if not c.get("companies")]
    return {
        **{key: part[key] for key in ("departments", "taxRates", "productCategories")},
        "paymentMethods": part["paymentMethods"],
        "contacts": contacts[:CUSTOMERS_PER_KIND],
        "companies": old(part["companies"])[:CUSTOMERS_PER_KIND],
    }


def connect_many(bench: BenchEnvironment, count: int, interval_s: float) -> float:
    """``count`` accounts, companies and connections; the seconds it took."""
    started = time.monotonic()
    today = date.today()
    account_part = idle_account_part(today)

    def one(number: int) -> None:
        account = httpx.post(
            f"{bench.teamleader_url}/_sandbox/accounts", json=account_part, timeout=60
        )
        account.raise_for_status()
        company = httpx.post(f"{bench.visma_url}/_sandbox/companies", json={}, timeout=60)
        company.raise_for_status()
        connect_sandbox(
            bench.settings,
            bench.pool,
            name=f"{NAME_PREFIX}{number:04d}",
            sync_from=today,
            teamleader_account=account.json()["account_id"],
            visma_company=company.json()["company_id"],
            poll_interval_s=max(1, round(interval_s)),
        )

    with ThreadPoolExecutor(CONNECT_THREADS) as executor:
        list(executor.map(one, range(count)))
    return time.monotonic() - started


# -- watching a process -----------------------------------------------------------------------
@dataclass
class Mark:
    """The state of things when a round ended."""

    at: float  # time.monotonic()
    poller_cpu_s: float
    sandbox_cpu_s: float
    calls: Calls
    #: PostgreSQL statements the poller sent so far (its own count, written twice a second).
    statements: int
    #: Seconds from the first stream's cursor update to the last one's (PostgreSQL's clock).
    cursor_span_s: float = 0.0


@dataclass
class Rounds:
    """Watches the poller's output: each connection prints one summary line per round (all
    of a round's lines come when the round is over)."""

    connections: int
    mark: Callable[[], Mark]
    lines: int = 0
    ends: list[Mark] = field(default_factory=list)
    done: threading.Condition = field(default_factory=threading.Condition)

    def follow(self, output: Any, log: Path) -> None:
        with log.open("w") as copy:
            for line in output:
                copy.write(line)
                if not SUMMARY_LINE.match(line):
                    continue
                self.lines += 1
                if self.lines % self.connections == 0:
                    with self.done:
                        self.ends.append(self.mark())
                        self.done.notify_all()

    def wait_for(self, rounds: int, timeout_s: float) -> bool:
        with self.done:
            return self.done.wait_for(lambda: len(self.ends) >= rounds, timeout_s)


@dataclass
class Run:
    connections: int
    interval_s: float
    connect_s: float
    started: Mark
    ends: list[Mark]
    peak_rss_mib: float


def run_poller(bench: BenchEnvironment, connections: int, interval_s: float, rounds: int) -> Run:
    poller_pid: list[int] = []
    simulators = bench.sandbox_pid() or 0

    def mark() -> Mark:
        at, poller, simulator = time.monotonic(), cpu_s(poller_pid), cpu_s([simulators])
        with bench.pool.connection() as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM max(last_success_at) - min(last_success_at)) AS span"
                " FROM cursors"
            ).fetchone()
        span = float(row["span"]) if row and row["span"] is not None else 0.0
        statements = bench.statements(poller_pid)
        return Mark(at, poller, simulator, api_calls(bench), statements, span)

    watch = Rounds(connections, mark)
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "poll", "--interval-s", str(interval_s)],
        env={**bench.env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    poller_pid.append(process.pid)
    started = mark()
    reader = threading.Thread(
        target=watch.follow, args=(process.stdout, bench.log_folder / "poll.log"), daemon=True
    )
    reader.start()
    try:
        # A round may not take longer than 10 minutes here, however slow the poller is.
        finished = watch.wait_for(rounds, rounds * max(interval_s, 600.0))
        peak_rss = peak_rss_mb(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        reader.join(timeout=10)
    if not finished:
        click.echo(f"only {len(watch.ends)} of {rounds} rounds finished", err=True)
    return Run(connections, interval_s, 0.0, started, watch.ends, peak_rss)


def profile_once(bench: BenchEnvironment, top: int = 15) -> tuple[Table, float]:
    """``koppel poll --once`` under py-spy: Koppel's functions by the share of samples in
    them or their callees, sampling the thread holding the GIL (Python's CPU time, whichever
    thread), and the wall seconds of the profiled round. (cProfile sees only
    the main thread, which now just waits for the poll threads.)"""
    output = bench.log_folder / "poll-once.pyspy.txt"
    py_spy = Path(sys.executable).with_name("py-spy")
    started = time.monotonic()
    with (bench.log_folder / "poll-once.log").open("w") as log:
        subprocess.run(
            [
                str(py_spy),
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "--gil",
                "-o",
                str(output),
                "--",
                sys.executable,
                "-m",
                "ops.cli",
                "poll",
                "--once",
            ],
            env=bench.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    wall_s = time.monotonic() - started
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inside[frame] += int(count)
    table = Table(title=f"py-spy of one `koppel poll --once` round ({wall_s:.1f} s wall)")
    for column in ("Koppel function (file:line)", "own %", "with callees %"):
        table.add_column(column, justify="left" if column.startswith("Koppel") else "right")
    ours = [frame for frame in inside if any(f"({part}/" in frame for part in KOPPEL_PACKAGES)]
    for frame in sorted(ours, key=lambda frame: inside[frame], reverse=True)[:top]:
        table.add_row(
            frame,
            f"{100 * own[frame] / max(1, total):.1f}",
            f"{100 * inside[frame] / max(1, total):.1f}",
        )
    return table, wall_s


# -- the report -------------------------------------------------------------------------------
def _calls(later: Mark, earlier: Mark, service: str) -> int:
    return int(later.calls[service]["calls"] - earlier.calls[service]["calls"])


def rounds_table(run: Run) -> Table:
    table = Table(
        title=f"One poller, {run.connections} idle connections, interval {run.interval_s:g} s"
    )
    for column in (
        "round",
        "wall s",
        "poller CPU s",
        "CPU % of one core over the interval",
        "Teamleader calls",
        "Visma calls",
        "429s",
        "PostgreSQL statements",
        "simulators CPU s",
    ):
        table.add_column(column, justify="right")
    previous = run.started
    n = run.connections
    for index, end in enumerate(run.ends):
        # Round 1 from the process start (imports, the pool, every client made); later ones:
        # the span of their cursor updates, stretched by the connection before the first.
        wall = end.at - run.started.at if index == 0 else end.cursor_span_s * n / max(1, n - 1)
        cpu = end.poller_cpu_s - previous.poller_cpu_s
        span = max(run.interval_s, end.at - previous.at)
        refused = sum(
            end.calls[s]["429"] - previous.calls[s]["429"] for s in ("teamleader", "visma")
        )
        table.add_row(
            str(index + 1),
            f"{wall:.1f}",
            f"{cpu:.2f}",
            f"{100 * cpu / span:.1f} %",
            str(_calls(end, previous, "teamleader")),
            str(_calls(end, previous, "visma")),
            str(refused),
            str(end.statements - previous.statements),
            f"{end.sandbox_cpu_s - previous.sandbox_cpu_s:.1f}",
        )
        previous = end
    return table


def run(connections: int, interval_s: float, rounds: int, profile: bool, latency_ms: float) -> None:
    with bench_environment("many", sandbox_args=["--empty"]) as bench:
        connect_s = connect_many(bench, connections, interval_s)
        if latency_ms:
            fault_plan(bench, {"latency_ms": latency_ms, "jitter_ms": latency_ms / 2})
        measured = run_poller(bench, connections, interval_s, rounds)
        measured.connect_s = connect_s
        tables = [rounds_table(measured)]
        profiled_wall = None
        if profile:
            profile_table, profiled_wall = profile_once(bench)
            tables.append(profile_table)
        notes = _notes(measured, profiled_wall, latency_ms)
    report("Many connections: one poller", tables, notes)


def _notes(run: Run, profiled_wall: float | None, latency_ms: float) -> list[str]:
    steady = run.ends[1:]
    notes = [
        f"- API latency {latency_ms:g} ms ± {latency_ms / 2:g} ms (uniform) on every call"
        if latency_ms
        else "- no added API latency: the simulators answer as fast as they can.",
        f"- {run.connections} connections made in {run.connect_s:.0f} s"
        f" ({CONNECT_THREADS} threads, OAuth code flow against the simulators).",
        f"- poller peak RSS (VmHWM): {run.peak_rss_mib:.0f} MiB.",
    ]
    if steady:
        cpu = steady[-1].poller_cpu_s - run.ends[0].poller_cpu_s
        span = steady[-1].at - run.ends[0].at
        notes.append(
            f"- rounds 2–{len(run.ends)}: poller CPU {cpu:.1f} s over {span:.0f} s ="
            f" {100 * cpu / span:.1f} % of one core on average; at the default 900 s interval"
            f" a round's CPU would be {100 * cpu / len(steady) / 900:.2f} % of one core."
        )
    notes += [
        "- CPU % of a round = its CPU over the longer of the interval and the time since the"
        " previous round ended; a round's wall time is the span of its cursor updates"
        " (`cursors.last_success_at`) stretched by one connection (round 1: from the process"
        " start to its last summary line).",
        "- the simulators (one process, both APIs) share the machine's 2 cores with the"
        " poller; their CPU per round is in the last column. Real rate limits enforced:"
        " Teamleader's per account, Visma's per application and endpoint (every connection's"
        " ledger-item poll spends one budget on /v2/customerledgeritems, 600 a minute).",
        f"- load: {load_average()}",
    ]
    if profiled_wall is not None:
        notes.append(
            "- the profile is of a separate `koppel poll --once` over the same connections,"
            " sampled by py-spy at 200 Hz in the thread holding the GIL; `--once` also"
            " prints a table per connection, which `koppel poll` does not."
        )
    return notes


@click.command()
@click.option("--connections", type=click.IntRange(min=2), default=1000, show_default=True)
@click.option("--interval-s", type=click.FloatRange(min=1), default=60.0, show_default=True)
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--small", is_flag=True, help="50 connections, 10 s interval, 2 rounds.")
@click.option("--profile/--no-profile", default=True, show_default=True)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Added to every API call of both simulators, with ± half of it as jitter.",
)
def main(
    connections: int,
    interval_s: float,
    rounds: int,
    small: bool,
    profile: bool,
    latency_ms: float,
) -> None:
    """Print the poller's CPU, memory and API calls per round over many idle connections."""
    if small:
        connections, interval_s, rounds = 50, 10.0, 2
    run(connections, interval_s, rounds, profile, latency_ms)


if __name__ == "__main__":
    main()
