"""Cost per document (issue 5, item 2): what one invoice costs the whole pipeline.

Simulators with no latency and no rate limit (``--no-rate-limits``); Koppel still paces
itself through the shared rate budget (it cannot know the limits are off), with the windows
scaled down so the budget never waits: one budget statement per API call is part of the cost.

1. The customers first: the simulator starts with the customers only, ``koppel work
   --queues contacts`` and one poll link them all (so the invoices below find their
   customers, as in steady operation).
2. The invoices appear in Teamleader (``/_sandbox/reset`` with the full data set);
   N ``koppel work --queues invoices`` processes are started and idle, then one ``koppel poll
   --once`` publishes every invoice; the clock runs from the poll to the last outcome.
3. The baseline, in the same run and on the same broker: N processes of a no-op Dramatiq
   actor (``bench/noop_actor.py``) draining as many messages.

    python -m bench.cost             # 5,000 invoices, 1 and 2 processes
    python -m bench.cost --small     # 500 invoices
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import dramatiq
import httpx
from rich.table import Table

from bench.harness import (
    BenchEnvironment,
    bench_dataset,
    bench_environment,
    cpu_s,
    dataset_counts,
    load_average,
    machine_busy_s,
    peak_rss_by_process,
    process_tree,
    service_roots,
)
from bench.noop_actor import QUEUE
from bench.results import report
from contracts.broker import make_broker
from store.message_log import document_outcomes

#: Koppel's client windows in the benchmark (s): 200 Teamleader calls per 61 ms, never a wait.
TIME_SCALE = 0.001


def customers_only(path: Path) -> Path:
    data = json.loads(path.read_text())
    data["teamleader"]["invoices"] = []
    data["teamleader"]["creditNotes"] = []
    out = path.with_name(path.stem + "-customers.json")
    out.write_text(json.dumps(data))
    return out


def noop_baseline(bench: BenchEnvironment, processes: int, threads: int, count: int) -> float:
    """Messages per second N no-op worker processes drain from a full queue."""
    broker = make_broker(bench.settings)
    broker.declare_queue(QUEUE, ensure=True)
    channel = broker.channel
    channel.queue_purge(QUEUE)
    for _ in range(count):
        broker.enqueue(
            dramatiq.Message(
                queue_name=QUEUE,
                actor_name=QUEUE,
                args=("{}",),
                kwargs={},
                options={},
            )
        )
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "bench.noop_actor:setup",
        "--queues",
        QUEUE,
        "--processes",
        "1",
        "--threads",
        str(threads),
    ]
    workers = [
        subprocess.Popen(
            command,
            env=bench.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(processes)
    ]
    try:
        started = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            left = channel.queue_declare(QUEUE, passive=True).method.message_count
            if started is None and left < count:
                started = time.monotonic()
            if left == 0:
                break
            time.sleep(0.02)
        finished = time.monotonic()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        broker.close()
    return count / (finished - (started or finished) + 1e-9)


def _start_profiler(pid: int, folder: Path, processes: int) -> subprocess.Popen[bytes]:
    """py-spy (``pip install -e '.[bench]'``) sampling the first consumer process and its
    Dramatiq worker, as collapsed stacks (``bench/profile_summary.py`` reads them)."""
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / f"cost-{processes}p.txt"
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: Python CPU, not threads waiting
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_once(
    path: Path, processes: int, threads: int, noop_count: int, profile: Path | None = None
) -> dict[str, Any]:
    customers_path = customers_only(path)
    full = json.loads(path.read_text())
    with bench_environment(
        f"cost{processes}",
        sandbox_args=["--data", str(customers_path), "--no-rate-limits"],
        time_scale=TIME_SCALE,
    ) as bench:
        connection = bench.connect()
        with bench.workers(1, queues=["contacts"]):
            bench.poll_once()
            bench.wait_settled(connection)
        httpx.post(
            f"{bench.teamleader_url}/_sandbox/reset", json=full["teamleader"], timeout=120
        ).raise_for_status()
        with bench.workers(processes, threads=threads, queues=["invoices"]) as started:
            roots = [p.pid for p in started]
            cpu_before = cpu_s(roots)
            simulators = [bench.sandbox_pid() or 0]
            simulators_before = cpu_s(simulators)
            services = {
                "PostgreSQL": service_roots("postgres"),
                "RabbitMQ": service_roots("beam.smp"),
            }
            services_before = {name: cpu_s(pids) for name, pids in services.items()}
            machine_before = machine_busy_s()
            bench.sandbox_stats(reset=True)
            consumer_pids = {pid for root in roots for pid in process_tree(root)}
            statements_before = bench.statements()
            consumer_statements_before = bench.statements(consumer_pids)
            profiler = _start_profiler(roots[0], profile, processes) if profile else None
            began = time.monotonic()
            bench.poll_once()
            finished = bench.wait_settled(connection)
            cpu_used = cpu_s(roots) - cpu_before
            simulators_used = cpu_s(simulators) - simulators_before
            machine_used = machine_busy_s() - machine_before
            services_used = {
                name: cpu_s(pids) - services_before[name] for name, pids in services.items()
            }
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
            time.sleep(1.0)  # the statement counters write every 0.5 s
            statements = bench.statements() - statements_before
            consumer_statements = bench.statements(consumer_pids) - consumer_statements_before
            rss = peak_rss_by_process(roots)
            by_text = bench.statements_by_text(sorted(consumer_pids))
            for text, n in sorted(by_text.items(), key=lambda item: -item[1])[:25]:
                print(f"{n:7d}  {text}")
            stats = bench.sandbox_stats()
        outcomes = document_outcomes(bench.pool, connection.id).get("invoice", {})
        noop_rate = noop_baseline(bench, processes, threads, noop_count)
    invoices = outcomes.get("posted", 0)
    elapsed = finished - began
    calls = int(stats["teamleader"]["calls"]) + int(stats["visma"]["calls"])
    per_invoice = 1000 / max(invoices, 1)  # s → ms per invoice
    return {
        "processes": processes,
        "invoices posted": invoices,
        "failed": outcomes.get("failed", 0),
        "elapsed s": round(elapsed, 1),
        "invoices/s": round(invoices / elapsed, 1),
        "consumer CPU ms/invoice": round(cpu_used * per_invoice, 2),
        "simulators CPU ms/invoice": round(simulators_used * per_invoice, 2),
        "PostgreSQL CPU ms/invoice": round(services_used["PostgreSQL"] * per_invoice, 2),
        "RabbitMQ CPU ms/invoice": round(services_used["RabbitMQ"] * per_invoice, 2),
        "machine CPU ms/invoice": round(machine_used * per_invoice, 2),
        "API calls/invoice": round(calls / max(invoices, 1), 2),
        "TL/Visma calls": f"{stats['teamleader']['calls']}/{stats['visma']['calls']}",
        "statements/invoice": round(statements / max(invoices, 1), 2),
        "of which consumers": round(consumer_statements / max(invoices, 1), 2),
        "peak RSS MiB (max)": round(max(rss.values()), 1),
        "no-op actor msg/s": round(noop_rate, 1),
    }


@click.command()
@click.option("--small", is_flag=True, help="500 invoices instead of 5,000 (a quick look).")
@click.option("--invoices", type=int, default=None)
@click.option("--processes", "process_counts", type=int, multiple=True, default=(1, 2))
@click.option("--threads", type=int, default=8, show_default=True)
@click.option("--title", default="Cost per document", show_default=True)
@click.option(
    "--profile",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Record a py-spy profile of the first consumer process into this folder.",
)
def main(
    small: bool,
    invoices: int | None,
    process_counts: tuple[int, ...],
    threads: int,
    title: str,
    profile: Path | None,
) -> None:
    invoices = invoices or (500 if small else 5000)
    path = bench_dataset(invoices, credit_notes=0)
    counts = dataset_counts(path)
    load_before = load_average()
    rows = []
    for n in process_counts:
        rows.append(run_once(path, n, threads, invoices, profile))
        print(rows[-1], flush=True)
    table = Table(title=f"{invoices} invoices through the whole pipeline, no limits, no latency")
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    report(
        title,
        [table],
        [
            f"- data: {counts['invoices']} booked invoices of {counts['customers']} customers "
            f"(seed 1, Dutch department), customers linked beforehand; {threads} threads per "
            "consumer process; simulators without rate limits or latency; Koppel's rate "
            f"budget on, windows × {TIME_SCALE} (it never waits, it is still consulted).",
            "- elapsed: from `koppel poll --once` starting (it reads and publishes every "
            "invoice) to the last invoice's outcome, the consumers already running and idle.",
            "- consumer CPU: utime + stime from /proc of the `koppel work` processes and their "
            "Dramatiq worker children over that time (the poller and the simulators excluded);"
            " peak RSS: the largest VmHWM among them.",
            "- simulators CPU: the sandbox process (both APIs in one process, one event "
            "loop, so it can use one core at most: 1000 / that figure is the most invoices "
            "per second the simulators can answer). Machine CPU: every core's busy time from "
            "/proc/stat over the same span (poller, consumers, simulators, PostgreSQL, "
            "RabbitMQ, the OS); cores × 1000 / that figure is the machine's ceiling. "
            "PostgreSQL: the postmaster and its backends, ended sessions included; RabbitMQ: "
            "its Erlang VM (`beam.smp`). Both serve only this benchmark during the run.",
            "- API calls: counted by the simulators (`/_sandbox/stats`), the poller's included. "
            "Statements: every `execute` (executemany counts its rows) in the poller and "
            "consumer processes, counted by a cursor enabled only in benchmarks "
            "(`KOPPEL_BENCH_STATEMENTS_DIR`, store/db.py); the next column is the consumers'.",
            "- no-op actor: N processes of `bench/noop_actor.py` (same broker setup and "
            "middleware, same threads) draining as many messages from a full queue.",
            f"- load average before: {load_before}; after: {load_average()} (2 cores, shared "
            "with other engineers' tests).",
        ],
    )


if __name__ == "__main__":
    main()
