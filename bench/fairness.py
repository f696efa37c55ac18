"""Fairness (issue 16): one connection's backlog must not hold up another's live sync.

``python -m bench.fairness [--small] [--time-scale 0.1] [--runs 1,2,3,4]``

Both simulators enforce their real limits, time-scaled (0.1: Teamleader's 200 calls per 6 s;
Koppel's client windows scale the same way). Connection B books an invoice every 2–4 s of
wall time; the runs differ in what else happens meanwhile:

1. B alone (the baseline);
2. connection A backfills 2,000 invoices (``--small``: 1,000);
3. A and 9 other connections backfill at once, 500 invoices each besides A (``--small``: 100);
4. as 3, but B's bookings reach Koppel by webhook (``koppel webhooks serve``, B's poll
   interval 900 s) instead of B's 1 s poll interval.

Every connection has a Teamleader account and a Visma company of its own. Koppel runs as in
production: one ``koppel work`` per queue (invoices 8 threads, the others 2), one ``koppel
poll`` (each connection on its own interval: B 1 s, the backfilling ones 60 s), and one
``koppel backfill --no-workers`` per backfilling connection, all started together. B's 1 s
is more than its own Teamleader budget carries for long (four list calls a round): once its
rounds have spent their share (``KOPPEL_POLL_BUDGET_SHARE``), the poller spaces them by what
they cost, about every 2.4 s at time scale 1 (ops/processes/pacing.py).

* B's latency: from this machine's clock before the booking call to the moment its Visma
  ledger item exists, seen by asking the Visma simulator's summary of B's company every
  0.1 s (the simulator's side, not Koppel's tables).
* A backfill's elapsed time: from starting ``koppel backfill`` to its exit (every message
  has an outcome); its Teamleader calls: the reservations on its key in Koppel's rate budget
  (``rate_budget.taken``: one per call sent); its bound: issue 5's, (⌈calls / 200⌉ − 1) × 60 s,
  unscaled. Efficiency = bound / elapsed (goal ≥ 0.95 with no 429).
* Jain's index of the backfilling connections' throughput (calls per second while it ran):
  (Σx)² / (n·Σx²), 1 when every connection progressed at the same rate (goal ≥ 0.95).

Goals: B's p99 in runs 2–4 within 2 s of run 1's; A's efficiency ≥ 0.95 with 0 × 429;
Jain's index ≥ 0.95.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import click
import httpx
from rich.table import Table

from bench.harness import (
    BenchEnvironment,
    bench_dataset,
    bench_environment,
    free_port,
    load_average,
)
from bench.latency import (
    SEED,
    _draft_invoices,
    _first_round_handled,
    _register_webhook,
    _wait_listening,
    api_calls,
    calls_since,
    percentile,
)
from bench.results import report
from ops.connect.connecting import connect_sandbox
from ops.dev.demo import processes
from store.connections import Connection

TEAMLEADER_CALLS = 200
TEAMLEADER_WINDOW_S = 60.0
#: B's gap between bookings (wall seconds, uniform).
BOOKING_GAP_S = (2.0, 4.0)
#: How often B's Visma company is looked at (s).
WATCH_S = 0.1
POSTING_TIMEOUT_S = 180.0
GOAL_P99_MARGIN_S = 2.0
GOAL_EFFICIENCY = 0.95
GOAL_JAIN = 0.95
#: Ten backfill processes next to the workers must fit PostgreSQL's 100 sessions: a
#: backfill only publishes and follows, one session at a time.
FEW_SESSIONS = {"KOPPEL_POLL_THREADS": "1", "KOPPEL_DATABASE_POOL_SIZE": "3"}
#: ``koppel backfill`` of everything, leaving the messages to the running workers.
BACKFILL = [
    *(sys.executable, "-m", "ops.cli", "backfill", "--from", "2000-01-01"),
    *("--yes", "--anyway", "--no-workers"),
]


@dataclass
class Backfill:
    connection: Connection
    invoices: int
    started: float = 0.0
    ended: float | None = None
    calls: int = 0
    #: Its calls when the first backfill of the run ended (all of them running till then).
    calls_together: int = 0
    together_s: float = 0.0
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Watch:
    """Visma invoice numbers of B's company and when each was first seen (monotonic)."""

    url: str
    seen: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                numbers = client.get(self.url).json()["invoice_numbers"]
                now = time.monotonic()
                for number in numbers:
                    self.seen.setdefault(int(number), now)
                self.stop.wait(WATCH_S)


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url, json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def _visma_number(invoice_number: str) -> int:
    """Visma's InvoiceNumber for a Teamleader number under the default rule."""
    year, number = invoice_number.split(" / ")
    return int(f"{year}{int(number):05d}")


def _backfilling(bench: BenchEnvironment, count: int, size: int, name: str) -> list[Backfill]:
    """``count`` connections on accounts and companies of their own, ``size`` invoices each."""
    data = json.loads(bench_dataset(size, credit_notes=0).read_text())
    made = []
    for number in range(count):
        account = _post(f"{bench.teamleader_url}/_sandbox/accounts", data["teamleader"])
        company = _post(f"{bench.visma_url}/_sandbox/companies", data.get("visma") or {})
        connected = connect_sandbox(
            bench.settings,
            bench.pool,
            name=f"{name}{number}",
            sync_from=date.today(),
            teamleader_account=account["account_id"],
            visma_company=company["company_id"],
            poll_interval_s=60,
        )
        made.append(Backfill(connected.connection, size))
    return made


def _taken(bench: BenchEnvironment, connection: Connection) -> int:
    with bench.pool.connection() as conn:
        row = conn.execute(
            "SELECT taken FROM rate_budget WHERE key = %s", [str(connection.id)]
        ).fetchone()
    return int(row["taken"]) if row else 0


def _sample_at_first_end(
    bench: BenchEnvironment, backfills: list[Backfill], stop: threading.Event
) -> None:
    """At the moment the first backfill ends, every backfill's calls so far: the span in
    which all of them ran at once, where a fair share means equal throughputs (after it,
    the ones left rightly go faster)."""
    while not stop.wait(0.05):
        if any(b.process is not None and b.process.poll() is not None for b in backfills):
            for backfill in backfills:
                backfill.calls_together = _taken(bench, backfill.connection)
            backfill_ends = time.monotonic()
            for backfill in backfills:
                backfill.together_s = backfill_ends - backfill.started
            return


def run_once(number: int, time_scale: float, small: bool, bookings_alone: int) -> dict[str, Any]:
    webhooks = number == 4
    with bench_environment(
        f"fair{number}",
        sandbox_args=["--seed", str(SEED), "--size", "small"],
        time_scale=time_scale,
    ) as bench:
        b = connect_sandbox(
            bench.settings,
            bench.pool,
            name="live-b",
            sync_from=date.today(),
            poll_interval_s=900 if webhooks else 1,
        )
        country = (b.department.address and b.department.address.country) or "BE"
        drafts = _draft_invoices(bench, b.connection.teamleader_department_id, country, 200)
        backfills: list[Backfill] = []
        if number >= 2:
            backfills += _backfilling(bench, 1, 1000 if small else 2000, "bulk-a")
        if number >= 3:
            backfills += _backfilling(bench, 9, 100 if small else 500, "bulk-")
        workers = [
            ["work", "--queues", "invoices", "--threads", "8"],
            *(["work", "--queues", q, "--threads", "2"] for q in ("contacts", "credit_notes")),
            ["work", "--queues", "payments", "--threads", "2"],
        ]
        port = free_port()
        receiver = [["webhooks", "serve", "--port", str(port)]] if webhooks else []
        watch = Watch(f"{bench.visma_url}/_sandbox/summary")
        with processes([*workers, ["poll"], *receiver], bench.env, bench.log_folder):
            if webhooks:
                _wait_listening(f"http://127.0.0.1:{port}")
                _register_webhook(bench, b.connection, f"http://127.0.0.1:{port}")
            _first_round_handled(bench, b.connection)
            today = {"on": date.today().isoformat()}
            # The warm-up booking creates B's customer in Visma; the measured ones find it.
            warm = _post(f"{bench.teamleader_url}/_sandbox/invoices/{drafts[0]}/book", today)
            threading.Thread(target=watch.run, daemon=True).start()
            deadline = time.monotonic() + POSTING_TIMEOUT_S
            warm_number = _visma_number(warm["invoice_number"])
            while warm_number not in watch.seen and time.monotonic() < deadline:
                time.sleep(0.2)
            # Let the connect calls leave Teamleader's window, as a fresh backfill would.
            time.sleep(TEAMLEADER_WINDOW_S * time_scale)
            stats_before = api_calls(bench)
            for backfill in backfills:
                backfill.started = time.monotonic()
                backfill.process = subprocess.Popen(
                    [*BACKFILL, "--connection", backfill.connection.name],
                    env={**bench.env, **FEW_SESSIONS},
                    stdout=subprocess.DEVNULL,
                    stderr=(bench.log_folder / f"{backfill.connection.name}.log").open("wb"),
                )
            sampled = threading.Event()
            if len(backfills) > 1:
                threading.Thread(
                    target=_sample_at_first_end, args=(bench, backfills, sampled), daemon=True
                ).start()
            booked: dict[int, float] = {}
            gaps = random.Random(SEED)
            for draft in drafts[1:]:
                at = time.monotonic()
                done = _post(f"{bench.teamleader_url}/_sandbox/invoices/{draft}/book", today)
                booked[_visma_number(done["invoice_number"])] = at
                for backfill in backfills:
                    assert backfill.process is not None
                    if backfill.ended is None and backfill.process.poll() is not None:
                        backfill.ended = time.monotonic()
                enough = len(booked) >= bookings_alone
                if enough and all(b_.ended is not None for b_ in backfills):
                    break
                time.sleep(gaps.uniform(*BOOKING_GAP_S))
            deadline = time.monotonic() + POSTING_TIMEOUT_S
            while set(booked) - set(watch.seen) and time.monotonic() < deadline:
                time.sleep(0.2)
            watch.stop.set()
            sampled.set()
            calls = calls_since(api_calls(bench), stats_before)
        for backfill in backfills:
            backfill.calls = _taken(bench, backfill.connection)
    latencies = [watch.seen[n] - at for n, at in booked.items() if n in watch.seen]
    return _row(number, time_scale, booked, latencies, backfills, calls)


def _row(
    number: int,
    time_scale: float,
    booked: dict[int, float],
    latencies: list[float],
    backfills: list[Backfill],
    calls: dict[str, dict[str, int]],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run": number,
        "B n": len(booked),
        "B ok": len(latencies),
        "p50": percentile(latencies, 0.5) if latencies else math.nan,
        "p95": percentile(latencies, 0.95) if latencies else math.nan,
        "p99": percentile(latencies, 0.99) if latencies else math.nan,
        "max": max(latencies) if latencies else math.nan,
        "bulk": " + ".join(
            f"{n}×{size}"
            for size, n in sorted(
                {
                    b.invoices: sum(1 for x in backfills if x.invoices == b.invoices)
                    for b in backfills
                }.items(),
                reverse=True,
            )
        )
        or "-",
        "TL 429": calls["teamleader"]["429"],
        "V 429": calls["visma"]["429"],
    }
    if backfills:
        elapsed = [((b.ended or time.monotonic()) - b.started) / time_scale for b in backfills]
        a = backfills[0]
        a_elapsed = elapsed[0]
        bound = _bound(a)
        throughputs = [b.calls / e for b, e in zip(backfills, elapsed, strict=True) if e > 0]
        together = [b.calls_together / b.together_s for b in backfills if b.together_s > 0]
        slowest = max(
            range(len(backfills)), key=lambda i: elapsed[i] / max(_bound(backfills[i]), 1)
        )
        row.update(
            {
                "A calls": a.calls,
                "A s": a_elapsed,
                "A bound": float(bound),
                "A eff": bound / a_elapsed if a_elapsed else math.nan,
                "jain": _jain(throughputs) if len(backfills) > 1 else math.nan,
                "jain together": _jain(together) if len(together) > 1 else math.nan,
                # Which one is out of line: A's calls/s against the others' range (unscaled).
                "calls/s A / others": _rates(throughputs),
                "slowest s/bound": f"{elapsed[slowest]:.0f} / {_bound(backfills[slowest]):.0f}",
            }
        )
    return row


def _jain(throughputs: list[float]) -> float:
    """Jain's fairness index: 1 when every throughput is equal, 1/n when one has it all."""
    return sum(throughputs) ** 2 / (len(throughputs) * sum(x * x for x in throughputs))


def _rates(throughputs: list[float]) -> str:
    """A's throughput, then the lowest and highest of the others'."""
    if len(throughputs) < 2:
        return f"{throughputs[0]:.2f}" if throughputs else "-"
    others = throughputs[1:]
    return f"{throughputs[0]:.2f} / {min(others):.2f}–{max(others):.2f}"


def _bound(backfill: Backfill) -> float:
    return max(0, math.ceil(backfill.calls / TEAMLEADER_CALLS) - 1) * TEAMLEADER_WINDOW_S


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return (
            f"{value:.3f}" if value < 1.5 and value > 0 and value != int(value) else f"{value:.2f}"
        )
    return str(value)


@click.command()
@click.option(
    "--small", is_flag=True, help="Backfills of 1,000 and 100 invoices, 10 bookings alone."
)
@click.option("--time-scale", type=float, default=0.1, show_default=True)
@click.option("--runs", default="1,2,3,4", show_default=True, help="Which runs, comma-separated.")
@click.option("--title", default="Fairness between connections", show_default=True)
def main(small: bool, time_scale: float, runs: str, title: str) -> None:
    """Run the issue's four runs and print one table."""
    load_before = load_average()
    rows = []
    for number in (int(r) for r in runs.split(",")):
        rows.append(run_once(number, time_scale, small, 10 if small else 30))
        print(rows[-1], flush=True)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    baseline = next((r["p99"] for r in rows if r["run"] == 1), None)
    table = Table(title=f"{title} (time scale {time_scale}; B latency in wall s)")
    for column in [*columns, "p99 met"]:
        table.add_column(column, justify="right")
    for row in rows:
        met = "-"
        if baseline is not None and row["run"] != 1:
            met = "yes" if row["p99"] <= baseline + GOAL_P99_MARGIN_S else "no"
        table.add_row(*(_cell(row.get(c, "-")) for c in columns), met)
    report(
        title,
        [table],
        [
            f"- B: one booking every {BOOKING_GAP_S[0]:g}–{BOOKING_GAP_S[1]:g} s (wall), until "
            "every backfill ended (at least 10 with --small, else 30); latency = booking call "
            "→ the ledger item in B's Visma company (the simulator's summary, looked at every "
            f"{WATCH_S} s). Goal: p99 within {GOAL_P99_MARGIN_S:g} s of run 1's.",
            "- backfills: `koppel backfill --no-workers` per connection, started together; "
            "A's calls = its reservations in the rate budget; A s and bounds unscaled "
            f"(measured ÷ {time_scale}); efficiency = bound / A s (goal ≥ 0.95, 0 × 429); "
            "jain over every backfill's calls/s over its whole run (goal ≥ 0.95); jain "
            "together = the same over the span all ran at once (till the first ended: after "
            "it, those left rightly go faster); slowest = the backfill furthest from its own "
            "Teamleader bound (the Visma budget the ten share per application is not in it); "
            "calls/s A / others = Teamleader calls a second over a backfill's whole run "
            "(unscaled), A's and the range of the others'.",
            "- processes: `koppel work` per queue (invoices 8 threads, others 2), one "
            "`koppel poll` (B every 1 s until its rounds spent half its Teamleader budget, then "
            "as that share refills; run 4: webhooks and 900 s), all on 2 shared cores. "
            f"Load average before: {load_before}; after: {load_average()}.",
        ],
    )


if __name__ == "__main__":
    main()
