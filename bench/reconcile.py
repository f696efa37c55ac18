"""Rate-limit cost of ``koppel reconcile`` (issue 14): API calls per 1,000 documents and
the time they take under Teamleader's limit.

The simulators enforce the real limits (Teamleader 200 calls a minute, Visma 600 a minute
per endpoint), scaled in time by ``--time-scale``. Teamleader holds N booked invoices and
N/20 credit notes of the Dutch department; Visma holds none of them (posting N documents
under the limits would take the benchmark N/200 minutes and changes nothing Teamleader
is asked: every document then counts as missing). One reconciliation of the whole period
runs in this process through the connection's clients; the simulators count the calls.

    python -m bench.reconcile            # 5,000 invoices
    python -m bench.reconcile --small    # 1,000
"""

from __future__ import annotations

import math
import time
from datetime import date

import click
from rich.table import Table

from bench.harness import bench_dataset, bench_environment, dataset_counts, load_average
from bench.results import report
from config import clock as calendar
from ops.reconcile.run import reconcile
from store.api_clients import ClientCache

#: Teamleader's limit, unscaled: calls per window and the window (s).
TEAMLEADER_CALLS = 200
TEAMLEADER_WINDOW_S = 60.0
#: The issue's bound: no longer than the calls it needs at 200 a minute, plus 10 %.
SLACK = 1.10


def run_once(path: str, time_scale: float) -> dict[str, object]:
    with bench_environment(
        "reconcile", sandbox_args=["--data", path], time_scale=time_scale
    ) as bench:
        start = date(2000, 1, 1)
        connection = bench.connect(sync_from=start)
        # `koppel connect`'s few Teamleader calls stay in the server's window: with the
        # reconciliation's they remain far below 200, so no wait is needed (the 429 column
        # would show one).
        cache = ClientCache(bench.settings, bench.pool)
        try:
            api = cache.for_connection(connection)
            bench.sandbox_stats(reset=True)
            started = time.monotonic()
            done = reconcile(bench.pool, connection, api, start, calendar.today())
            elapsed_s = (time.monotonic() - started) / time_scale
            stats = bench.sandbox_stats()
        finally:
            cache.close()
    documents = done.result.documents
    tl_calls = int(stats["teamleader"]["calls"])
    visma_calls = int(stats["visma"]["calls"])
    tl_429 = int(stats["teamleader"]["by_status"].get("429", 0))
    # The calls at 200 a minute, evenly spaced, plus 10 % (s, unscaled).
    bound_s = tl_calls * TEAMLEADER_WINDOW_S / TEAMLEADER_CALLS * SLACK
    # The least the documents need: one list call per 100 (invoices and credit notes apart).
    least = math.ceil(documents / 100) + 1
    return {
        "documents": documents,
        "differences": len(done.result.differences),
        "tl calls": tl_calls,
        "tl calls least": least,
        "tl calls / 1,000 docs": tl_calls * 1000 / documents,
        "visma calls": visma_calls,
        "tl 429": tl_429,
        "visma 429": int(stats["visma"]["by_status"].get("429", 0)),
        "elapsed s": elapsed_s,
        "bound s": bound_s,
        "met": "yes" if tl_429 == 0 and elapsed_s <= bound_s else "no",
    }


@click.command()
@click.option("--small", is_flag=True, help="1,000 invoices instead of 5,000.")
@click.option("--invoices", type=int, default=None)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Below 1 the simulators' minute shrinks, but their work per call does not.",
)
def main(small: bool, invoices: int | None, time_scale: float) -> None:
    invoices = invoices or (1000 if small else 5000)
    path = bench_dataset(invoices, credit_notes=invoices // 20)
    counts = dataset_counts(path)
    load_before = load_average()
    row = run_once(str(path), time_scale)
    table = Table(title=f"Reconciling {row['documents']} documents, rate limits on (unscaled)")
    for column in row:
        table.add_column(column, justify="right")
    table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()))
    report(
        "Reconcile: rate-limit cost",
        [table],
        [
            f"- data: {counts['invoices']} booked invoices, {counts['credit notes']} credit notes "
            f"(seed 1, Dutch department); Visma holds none of them, so every one is a difference "
            "(missing) and Visma answers one page of ledger items and one of customers.",
            "- calls counted by the simulators (`/_sandbox/stats`); `tl calls least`: one list "
            "call per 100 documents of each type (Teamleader's largest page) plus the closing "
            "short page.",
            f"- bound: the Teamleader calls at 200 a minute, evenly spaced, plus 10 %; time "
            f"scale {time_scale}, times shown unscaled.",
            f"- load average before: {load_before}; after: {load_average()}",
        ],
    )


if __name__ == "__main__":
    main()
