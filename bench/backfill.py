"""Backfill efficiency (issue 5, item 1): how close a first sync runs to Teamleader's limit.

Both simulators enforce their real limits, time-scaled (``--time-scale 0.1``: 200 calls per
6 s instead of per 60 s; Koppel's client windows scale the same way); every time below is
unscaled (measured ÷ scale). For 1, 2 and 4 ``koppel work`` processes on one connection,
one ``koppel poll --once`` publishes every document and the processes post them.

    python -m bench.backfill              # 2,000 invoices, 1/2/4 processes (~6 min)
    python -m bench.backfill --small      # 200 invoices (~1 min)
    python -m bench.backfill --small --connections 3   # 3 connections at once, one Visma
                                                       # application (bench/shared_budget.py)
"""

from __future__ import annotations

import math
import time
from collections import Counter

import click
from rich.table import Table

from bench.harness import bench_dataset, bench_environment, dataset_counts, load_average
from bench.results import report
from bench.shared_budget import run_shared
from store import failures

#: Teamleader's limit, unscaled: calls per window and the window (s).
TEAMLEADER_CALLS = 200
TEAMLEADER_WINDOW_S = 60.0
#: Issue 5's goal: elapsed within 1/0.95 of the bound, with no response 429.
GOAL_EFFICIENCY = 0.95


def run_once(path: str, processes: int, threads: int, time_scale: float) -> dict[str, object]:
    with bench_environment(
        f"backfill{processes}", sandbox_args=["--data", path], time_scale=time_scale
    ) as bench:
        connection = bench.connect()
        # `koppel connect` made a few Teamleader calls outside the budget; let them leave the
        # server's window, so the run starts with the whole window as Koppel does.
        time.sleep(TEAMLEADER_WINDOW_S * time_scale)
        with bench.workers(processes, threads=threads):
            bench.sandbox_stats(reset=True)
            started = time.monotonic()
            bench.poll_once()
            finished = bench.wait_settled(connection)
            stats = bench.sandbox_stats()
        from store.message_log import document_outcomes

        outcomes = document_outcomes(bench.pool, connection.id)
        reasons = Counter(
            f"{failure.error_class}: {failure.reason[:120]}"
            for failure in failures.listing(bench.pool, connection_id=connection.id)
        )
        with bench.pool.connection() as conn:
            odd = conn.execute(
                "SELECT document_type, outcome, left(detail, 150) AS detail, count(*) AS n"
                " FROM messages WHERE connection_id = %s AND outcome NOT IN ('posted')"
                " GROUP BY 1, 2, 3 ORDER BY n DESC LIMIT 5",
                [connection.id],
            ).fetchall()
        for row in odd:
            print("outcome:", row)
        for reason, n in reasons.most_common(3):
            print(f"failure ×{n}: {reason}")
        summary = bench.visma_summary()
    teamleader_calls = int(stats["teamleader"]["calls"])
    elapsed_s = (finished - started) / time_scale
    # Issue 5's bound: the least time the calls could take under Teamleader's sliding window
    # (200 calls at t = 0, then 200 per window after), in s.
    bound_s = max(0, math.ceil(teamleader_calls / TEAMLEADER_CALLS) - 1) * TEAMLEADER_WINDOW_S
    # Secondary: every call spaced by window / limit (the steady rate the limit allows), in s.
    steady_bound_s = teamleader_calls * TEAMLEADER_WINDOW_S / TEAMLEADER_CALLS
    efficiency = bound_s / elapsed_s
    tl_429 = int(stats["teamleader"]["by_status"].get("429", 0))
    customers = outcomes.get("customer", {})
    return {
        "processes": processes,
        "invoices": outcomes.get("invoice", {}).get("posted", 0),
        "credit notes": outcomes.get("credit_note", {}).get("posted", 0),
        # A customer an invoice already created is "unchanged" when its own message arrives;
        # the three columns plus failed add up to the customers' messages.
        "customers posted": customers.get("posted", 0),
        "customers unchanged": customers.get("unchanged", 0) + customers.get("updated", 0),
        "customers skipped": customers.get("skipped", 0),
        "failed": sum(kind.get("failed", 0) for kind in outcomes.values()),
        "duplicates": int(summary.get("duplicate_ledger_items", 0)),
        "tl calls": teamleader_calls,
        "visma calls": int(stats["visma"]["calls"]),
        "tl 429": tl_429,
        "visma 429": int(stats["visma"]["by_status"].get("429", 0)),
        "elapsed s": elapsed_s,
        "bound s": float(bound_s),
        "efficiency": efficiency,
        "goal": f"≥ {GOAL_EFFICIENCY:.2f}, 0 × 429",
        "met": "yes" if efficiency >= GOAL_EFFICIENCY and tl_429 == 0 else "no",
        "steady bound s": steady_bound_s,
        "steady efficiency": steady_bound_s / elapsed_s,
    }


@click.command()
@click.option("--small", is_flag=True, help="200 invoices instead of 2,000 (a quick look).")
@click.option("--invoices", type=int, default=None, help="Invoices to backfill.")
@click.option("--processes", "process_counts", type=int, multiple=True, default=(1, 2, 4))
@click.option("--threads", type=int, default=8, show_default=True)
@click.option("--time-scale", type=float, default=0.1, show_default=True)
@click.option(
    "--connections",
    type=int,
    default=1,
    show_default=True,
    help="Connections of one Visma application backfilling at once (more than 1: the "
    "shared-budget run of bench/shared_budget.py, with the first --processes count).",
)
def main(
    small: bool,
    invoices: int | None,
    process_counts: tuple[int, ...],
    threads: int,
    time_scale: float,
    connections: int,
) -> None:
    invoices = invoices or (200 if small else 2000)
    path = bench_dataset(invoices, credit_notes=max(10, invoices // 20))
    if connections > 1:
        shared_report(str(path), invoices, connections, process_counts[0], threads, time_scale)
        return
    counts = dataset_counts(path)
    load_before = load_average()
    rows = []
    for n in process_counts:
        rows.append(run_once(str(path), n, threads, time_scale))
        print(rows[-1], flush=True)
    table = Table(title=f"Backfill of {invoices} invoices, rate limits on (unscaled times)")
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            *(
                f"{value:.3f}"
                if isinstance(value, float) and value < 10
                else f"{value:.0f}"
                if isinstance(value, float)
                else str(value)
                for value in row.values()
            )
        )
    report(
        "Backfill efficiency",
        [table],
        [
            f"- data: {counts['invoices']} booked invoices, {counts['credit notes']} credit "
            f"notes, {counts['customers']} customers (seed 1, Dutch department); "
            f"{threads} threads per process; simulators' time scale {time_scale} "
            f"(times above are measured ÷ {time_scale}).",
            "- elapsed: from `koppel poll --once` starting to the last message's outcome "
            "(consumers already running); calls and 429s counted by the simulators "
            "(`/_sandbox/stats`, OAuth excluded).",
            f"- bound = (⌈Teamleader calls / {TEAMLEADER_CALLS}⌉ − 1) × "
            f"{TEAMLEADER_WINDOW_S:.0f} s, issue 5's bound: the least time the calls could "
            "take under a sliding window (the first window's burst is free); efficiency = "
            "bound / elapsed; met = efficiency ≥ 0.95 and no Teamleader 429. Secondary: "
            f"steady bound = calls × {TEAMLEADER_WINDOW_S:.0f} s / {TEAMLEADER_CALLS} (every "
            "call at the steady rate), up to 60 s more lenient per run.",
            "- customers: posted, unchanged (already created for an invoice; or updated), "
            "skipped; with failed they add up to the customers' messages.",
            "- Koppel's client window is 61 s (1 s margin). "
            f"Load average before: {load_before}; after: {load_average()}.",
        ],
    )


def shared_report(
    path: str, invoices: int, connections: int, processes: int, threads: int, time_scale: float
) -> None:
    rows = run_shared(path, connections, processes, threads, time_scale)
    columns = list(rows[-1])
    table = Table(
        title=f"{connections} connections of one Visma application backfilling "
        f"{invoices} invoices each, at once (unscaled times)"
    )
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(_cell(row.get(column, "")) for column in columns))
    report(
        "Shared Visma budget",
        [table],
        [
            f"- {processes} `koppel work` process(es) × {threads} threads serve every "
            f"connection; simulators' time scale {time_scale}; the Visma simulator counts "
            "per application and endpoint (its default), Koppel's budget key is the same "
            "(`visma_rate_scope=application`), each connection taking at most "
            "`visma_connection_share` (0.5) of it.",
            "- peak postings / window: a connection's postings in its busiest 60 s (scaled) "
            "window, all to one endpoint (`customerledgeritemswithvoucher`); share of 600: "
            "that peak against Visma's 600 calls per window. The last row: every posting "
            "call the simulator counted on that endpoint, the elapsed time until every "
            "connection settled, all Visma calls and the 429s (goal: 0).",
        ],
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.2f}" if value < 10 else f"{value:.0f}"
    return str(value)


if __name__ == "__main__":
    main()
