"""What it costs to see payments that do not move ``ModifiedUtc`` (issue 12 §6).

``python -m bench.open_items [--small] [--paid-per-hour N]``

A connection backfills ``--invoices`` booked invoices (200 with ``--small``), so Koppel has
that many open ledger items linked. The Visma simulator is then switched to
``payments_touch_modified: false`` and a day is played as 24 hourly passes of
``producers/open_items.py`` (its default ``visma_open_items_every_s`` is an hour): before
each, the bank pays ``--paid-per-hour`` items in full and as many in part. Each pass's Visma
calls are counted by the simulator (``/_sandbox/stats``); the pass's payments found are
checked against the payments made. The table gives the calls per pass and per day, for one
connection.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal

import click
import httpx
from rich.table import Table

from bench.harness import bench_dataset, bench_environment
from bench.results import report
from producers.open_items import open_items_to_check
from store import links
from store.api_clients import ClientCache

HOURS = 24


@click.command()
@click.option("--small", is_flag=True, help="200 invoices instead of 1,000.")
@click.option("--invoices", type=int, default=None)
@click.option("--paid-per-hour", type=int, default=3, show_default=True)
def main(small: bool, invoices: int | None, paid_per_hour: int) -> None:
    invoices = invoices or (200 if small else 1000)
    path = bench_dataset(invoices, credit_notes=10)
    rows = []
    with bench_environment(
        "openitems", sandbox_args=["--data", str(path)], time_scale=0.1
    ) as bench:
        connection = bench.connect()
        with bench.workers(1):
            bench.poll_once()
            bench.wait_settled(connection)
        httpx.put(
            f"{bench.visma_url}/_sandbox/modes",
            json={"payments_touch_modified": False},
            timeout=10,
        ).raise_for_status()
        settings = bench.settings.model_copy(update={"visma_open_items_every_s": 0.001})
        cache = ClientCache(settings, bench.pool)
        clients = cache.for_connection(connection)
        chance = random.Random(1)
        try:
            for hour in range(HOURS):
                open_now = links.open_by_visma_id(bench.pool, connection.id, links.LEDGER_ITEM)
                open_ids = sorted(i for i, r in open_now.items() if r)
                picked = chance.sample(open_ids, min(len(open_ids), 2 * paid_per_hour))
                for n, item_id in enumerate(picked):
                    remaining = Decimal(str(open_now[item_id]))
                    amount = (
                        remaining
                        if n < paid_per_hour
                        else (remaining / 2).quantize(Decimal("0.01"))
                    )
                    httpx.post(
                        f"{bench.visma_url}/_sandbox/customerledgeritems/{item_id}/payments",
                        json={"Amount": str(abs(amount))},
                        timeout=10,
                    ).raise_for_status()
                before = bench.sandbox_stats()["visma"]["calls"]
                time.sleep(0.01)
                seen = list(open_items_to_check(settings, clients, bench.pool, connection))
                calls = bench.sandbox_stats()["visma"]["calls"] - before
                found = [
                    item
                    for item in seen
                    if item.Id is not None
                    and open_now.get(item.Id.lower()) != item.RemainingAmountInvoiceCurrency
                ]
                # What the consumer would record: the new remaining amounts.
                for item in found:
                    links.set_remaining(
                        bench.pool,
                        connection.id,
                        links.LEDGER_ITEM,
                        str(item.Id),
                        item.RemainingAmountInvoiceCurrency,
                    )
                rows.append(
                    {
                        "hour": hour + 1,
                        "open items": len(open_ids),
                        "paid (full + part)": len(picked),
                        "payments found": len(found),
                        "visma calls": calls,
                    }
                )
        finally:
            cache.close()
    table = Table(title=f"Open-items passes over a day, one connection, {invoices} invoices")
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows[:3] + rows[-2:]:
        table.add_row(*(str(v) for v in row.values()))
    per_day = sum(int(r["visma calls"]) for r in rows)
    missed = sum(int(r["paid (full + part)"]) - int(r["payments found"]) for r in rows)
    report(
        "Open-items pass cost",
        [table],
        [
            f"- per day ({HOURS} hourly passes): **{per_day} Visma calls per connection** "
            f"({per_day / HOURS:.1f} a pass); payments missed: {missed} (goal 0). Shown: the "
            "first three and last two hours.",
            "- a pass: the list of open ledger items (`RemainingAmountInvoiceCurrency ne 0`, "
            "pages of 200) plus one read by id per item Koppel thought open that left the "
            "list (paid in full). The change poll's own calls (one list per round) come on "
            "top, as before.",
            f"- data: {invoices} booked invoices backfilled first; each hour the bank pays "
            f"{paid_per_hour} items in full and {paid_per_hour} in part, with the Visma "
            "simulator's `payments_touch_modified: false`.",
        ],
    )


if __name__ == "__main__":
    main()
