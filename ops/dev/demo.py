"""``koppel demo``: the whole sync on the simulators, as separate processes over RabbitMQ.

1. A place of its own (``ops.dev.demo_place``): a database and a RabbitMQ virtual host named
   ``koppel_demo_<random>``, free ports for the simulators; a token key if none is set.
2. Both simulators with generated data; ``koppel connect`` against them; VAT mappings
   proposed from the Visma chart.
3. One ``koppel work`` process per queue and one ``koppel poll`` process, talking only
   through RabbitMQ and PostgreSQL.
4. When the first sync has settled, life goes on: the bank pays some invoices in Visma
   (in full and in part), and in Teamleader a customer moves, an invoice is booked, one is
   credited and a posted one is edited.
5. When that has settled too: a table per document type and the final line, whose
   duplicate count is measured in the Visma simulator. Both count as failed only what is
   still failed at the end; what the bookkeeper fixed meanwhile is named apart.
6. The database and the virtual host are removed (``--keep`` keeps them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import httpx
import psycopg
from rich.console import Console
from rich.text import Text

from config import Settings, get_settings
from config import clock as calendar
from contracts import queues
from ops.connect.connecting import connect_sandbox
from ops.console import new_console
from ops.dev.demo_place import demo_place, free_port
from ops.dev.sandbox_session import running_sandbox
from ops.processes.outcome_table import outcome_table
from ops.reconcile.run import reconcile
from producers.poller import STREAMS
from store import cursors, deletions, document_history, failures, links, message_log
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import Pool, check_reachable, open_pool
from store.migrate import migrate
from store.token_store import new_key

#: The poller's interval in the demo (seconds): short, so the demo takes a minute, not 15.
DEMO_POLL_INTERVAL_S = 2
#: How often the demo's poller checks for documents deleted in Teamleader (seconds; the
#: demo registers no webhook, which would ask at once).
DEMO_DELETION_CHECK_S = 6
#: Give up waiting for the pipeline to settle after this long (seconds).
SETTLE_TIMEOUT_S = 240.0


def fresh_database(settings: Settings, url: str) -> None:
    """Drop and create the demo database, then migrate it (the demo always starts clean)."""
    check_reachable(settings.database_url)
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url) as conn:
        migrate(conn)


@contextmanager
def processes(
    commands: list[list[str]], env: dict[str, str], log_folder: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run Koppel processes for the length of the block (yielded, so the benchmarks can read
    their CPU and memory), each writing its output to ``log_folder/<command>.log``; stop them
    with SIGTERM after."""
    started = []
    for command in commands:
        log = log_folder / ("-".join(part.strip("-") for part in command) + ".log")
        with log.open("wb") as output:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ops.cli", *command],
                    env=env,
                    start_new_session=True,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_settled(pool: Pool, connection: Connection, log_folder: Path) -> None:
    """Until every stream was polled twice over since now and every message it published
    has an outcome."""
    # PostgreSQL's clock: the cursors it is compared with are stamped by it.
    since = document_history.database_now(pool)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    quiet_rounds = 0
    while quiet_rounds < 2:
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"the pipeline did not settle within {SETTLE_TIMEOUT_S:.0f} s "
                f"({message_log.waiting(pool, [connection.id])} messages waiting); "
                f"the processes' output is in {log_folder}"
            )
        time.sleep(DEMO_POLL_INTERVAL_S)
        polled = {
            cursor.stream
            for cursor in cursors.all_for(pool, connection.id)
            if cursor.last_success_at and cursor.last_success_at > since
        }
        if polled >= set(STREAMS) and message_log.waiting(pool, [connection.id]) == 0:
            quiet_rounds += 1
            since = document_history.database_now(pool)
        else:
            quiet_rounds = 0


@dataclass
class Activity:
    payments_full: int = 0
    payments_partial: int = 0
    teamleader_changes: int = 0
    #: The customers Koppel refused and the bookkeeper completed, as Teamleader names them.
    customers_fixed: list[str] = field(default_factory=list)
    #: The fiscal year's new name in Teamleader (not a year: Koppel numbers its documents).
    fiscal_year_name: str | None = None
    #: Teamleader ids of the posted invoices deleted in Teamleader.
    deleted: list[str] = field(default_factory=list)


def wait_noticed(pool: Pool, connection: Connection, deleted: list[str], log_folder: Path) -> None:
    """Until the poller's deletion check (every :data:`DEMO_DELETION_CHECK_S`) has found
    every deleted invoice."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while set(deleted) - set(deletions.found(pool, connection.id, "invoice")):
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"the deleted invoice was not noticed within {SETTLE_TIMEOUT_S:.0f} s; "
                f"the processes' output is in {log_folder}"
            )
        time.sleep(DEMO_POLL_INTERVAL_S)


def life_goes_on(settings: Settings, pool: Pool, connection: Connection) -> Activity:
    """Payments in Visma, changes in Teamleader — what a week brings."""
    activity = Activity()
    teamleader = settings.sandbox_teamleader_url
    visma = settings.sandbox_visma_url
    with pool.connection() as conn:
        posted = conn.execute(
            "SELECT teamleader_id, visma_id, remaining FROM links WHERE connection_id = %s"
            " AND teamleader_type = 'invoice' AND remaining > 1 ORDER BY visma_number",
            [connection.id],
        ).fetchall()
    today = calendar.today().isoformat()
    for index, row in enumerate(posted[:8]):
        # Every other one in part (a third), the rest in full.
        partial = index % 2 == 1
        amount = (row["remaining"] / 3).quantize(Decimal("0.01")) if partial else row["remaining"]
        httpx.post(
            f"{visma}/_sandbox/customerledgeritems/{row['visma_id']}/payments",
            json={"Amount": str(amount), "PaymentDate": today},
            timeout=10,
        ).raise_for_status()
        if partial:
            activity.payments_partial += 1
        else:
            activity.payments_full += 1
    with pool.connection() as conn:
        contact = conn.execute(
            "SELECT teamleader_id FROM links WHERE connection_id = %s"
            " AND teamleader_type = 'contact' ORDER BY teamleader_id LIMIT 1",
            [connection.id],
        ).fetchone()
    controls: list[tuple[str, dict[str, Any]]] = []
    # The bookkeeper renames this fiscal year in Teamleader, as accounts do ("Boekjaar 26"),
    # and gives credit notes a sequence of their own: the week's new invoice and credit
    # note carry numbers the number rules cannot represent (issue 13).
    year = calendar.today().year
    activity.fiscal_year_name = f"Boekjaar {year % 100:02d}"
    department = connection.teamleader_department_id
    numbering = {"department_id": department, "year": year}
    for body in (
        {**numbering, "kind": "invoices", "name": activity.fiscal_year_name},
        {**numbering, "kind": "creditNotes", "name": f"CN {year}"},
    ):
        httpx.post(f"{teamleader}/_sandbox/numbering", json=body, timeout=10).raise_for_status()
    if contact is not None:
        # A customer moves.
        controls.append(
            (
                f"contacts/{contact['teamleader_id']}",
                {
                    "addresses": [
                        {
                            "type": "invoicing",
                            "address": {
                                "line_1": "Oudegracht 200",
                                "postal_code": "3511 NR",
                                "city": "Utrecht",
                                "country": "NL",
                            },
                        }
                    ]
                },
            )
        )
        # A new invoice is booked today for that customer.
        cache = ClientCache(settings, pool)
        try:
            teamleader_client = cache.for_connection(connection).teamleader
            rates = teamleader_client.tax_rates(connection.teamleader_department_id)
        finally:
            cache.close()
        high = next(r for r in rates if r.rate == Decimal("0.21"))
        controls.append(
            (
                "invoices",
                {
                    "department_id": connection.teamleader_department_id,
                    "customer": {"type": "contact", "id": contact["teamleader_id"]},
                    "currency": "EUR",
                    "lines": [
                        {
                            "quantity": "3",
                            "description": "Adviesuren november",
                            "unit_price": "125.00",
                            "tax_rate_id": high.id,
                        }
                    ],
                    "book_on": today,
                },
            )
        )
    if len(posted) > 8:
        # One posted invoice is deleted in Teamleader's web app (its support pages tell
        # users to delete and book a copy to renumber): Koppel lists it as needing attention.
        controls.append((f"invoices/{posted[8]['teamleader_id']}/delete?any_booked=true", {}))
        activity.deleted.append(str(posted[8]["teamleader_id"]))
    if len(posted) > 10:
        # One invoice is credited in full; another gets a discount after it was posted.
        controls.append((f"invoices/{posted[9]['teamleader_id']}/credit", {"on": today}))
        controls.append(
            (
                f"invoices/{posted[10]['teamleader_id']}/update",
                {"discounts": [{"type": "percentage", "value": "5", "description": "Korting"}]},
            )
        )
    for path, body in controls:
        httpx.post(f"{teamleader}/_sandbox/{path}", json=body, timeout=10).raise_for_status()
        activity.teamleader_changes += 1
    # The bookkeeper reads what Koppel reported and completes the customers it refused.
    refused = [
        failure
        for failure in failures.listing(
            pool, connection_id=connection.id, statuses=("open",), reason="postal code"
        )
        if failure.error_class == "CustomerNotAcceptable" and failure.document_id
    ]
    for failure in refused:
        kind, teamleader_id = str(failure.document_id).split(":", 1)
        address = {
            "line_1": "Damrak 1",
            "postal_code": "1012 LG",
            "city": "Amsterdam",
            "country": "NL",
        }
        response = httpx.post(
            f"{teamleader}/_sandbox/{kind}s/{teamleader_id}",
            json={"addresses": [{"type": "primary", "address": address}]},
            timeout=10,
        )
        response.raise_for_status()
        activity.customers_fixed.append(f"{kind} {customer_name(response.json())}")
    return activity


def customer_name(info: dict[str, Any]) -> str:
    """A Teamleader contact's or company's name, as its ``.info`` gives it."""
    parts = (info.get("first_name"), info.get("last_name")) if "last_name" in info else ()
    return " ".join(p for p in parts if p) or str(info.get("name") or info.get("id"))


@dataclass(frozen=True)
class Result:
    invoices: int
    credit_notes: int
    customers: int
    payments: int
    duplicates: int
    failed: int

    @property
    def line(self) -> str:
        return (
            f"demo: {self.invoices} invoices, {self.credit_notes} credit notes, "
            f"{self.customers} customers, {self.payments} payments synced; "
            f"{self.duplicates} duplicates; {self.failed} failed"
        )


def report(
    pool: Pool, connection: Connection, visma_summary: dict[str, Any], console: Console
) -> Result:
    counts = message_log.document_outcomes(pool, connection.id)
    # What still needs fixing: a failure whose document later succeeded is resolved. The
    # table and the final line both count these, so they cannot disagree.
    still_open = failures.listing(pool, connection_id=connection.id, statuses=("open",))
    still_failed = Counter(str(failure.document_type) for failure in still_open)
    title = "Koppel demo: messages per document type and how they ended"
    console.print(outcome_table(counts, title, still_failed=still_failed))
    for failure in failures.listing(pool, connection_id=connection.id, statuses=("resolved",)):
        # The reason's first clause says what was wrong; its advice was followed.
        problem = failure.reason.split(";")[0].split(". ")[0].rstrip(".")
        console.print(
            Text("fixed by the bookkeeper: ", style="green")
            + Text(f"{problem}; synced since the fix")
        )
    for failure in failures.listing(pool, connection_id=connection.id, statuses=("attention",)):
        console.print(Text("needs attention: ", style="yellow") + Text(failure.reason))
    for failure in still_open:
        console.print(Text("failed: ", style="red") + Text(failure.reason))
    linked = links.counts(pool, connection.id)
    return Result(
        invoices=linked.get("invoice", 0),
        credit_notes=linked.get("credit_note", 0),
        customers=linked.get("contact", 0) + linked.get("company", 0),
        payments=counts.get("payment", {}).get("posted", 0),
        duplicates=int(visma_summary["duplicate_ledger_items"]),
        failed=len(still_open),
    )


@click.command("demo")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--size", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True
)
@click.option(
    "--keep",
    is_flag=True,
    help="Keep this run's database and virtual host for inspection (their names are printed).",
)
def demo_command(seed: int, size: str, keep: bool) -> None:
    """Sync generated Teamleader data into the Visma simulator, end to end."""
    # Stopped with SIGTERM, the demo still stops its processes and removes its place.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    console = new_console(width=max(Console().width, 110))

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    base = get_settings()
    started = time.monotonic()
    with demo_place(base, keep=keep, say=say) as place:
        say(
            f"this run's database and virtual host: {place.name} "
            f"({'kept' if keep else 'removed'} at the end)"
        )
        env = {
            "KOPPEL_DATABASE_URL": place.database_url,
            "KOPPEL_BROKER_URL": place.broker_url,
            "KOPPEL_TOKEN_KEY": base.token_key.get_secret_value() or new_key(),
        }
        # Ports of its own too, unless chosen: two demos can run side by side.
        for variable in ("KOPPEL_SANDBOX_TEAMLEADER_PORT", "KOPPEL_SANDBOX_VISMA_PORT"):
            env[variable] = os.environ.get(variable) or str(free_port())
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        fresh_database(base, settings.database_url)
        try:
            result, log_folder = run_demo(settings, seed, size, console)
        except httpx.TransportError as exc:
            # The simulators are the demo's own child: they stopped (killed, or a Ctrl-C
            # that reached them first).
            raise click.ClickException(f"the simulators stopped answering: {exc}") from exc
    console.print(f"took {time.monotonic() - started:.0f} s; process logs in {log_folder}")
    console.print(result.line)
    if result.failed or result.duplicates:
        sys.exit(1)


def reconciled(settings: Settings, pool: Pool, connection: Connection) -> str:
    """``koppel reconcile`` over everything the demo synced: its summary line, and the
    kinds of what differs with what to do (ops/reconcile/)."""
    cache = ClientCache(settings, pool)
    try:
        done = reconcile(
            pool,
            connection,
            cache.for_connection(connection),
            connection.sync_from,
            calendar.today(),
        )
    finally:
        cache.close()
    lines = [f"reconcile: {done.result.summary()}"]
    for difference in done.result.differences:
        lines.append(f"  {difference.title}: {difference.subject}: {difference.detail}")
    return "\n".join(lines)


def run_demo(settings: Settings, seed: int, size: str, console: Console) -> tuple[Result, Path]:
    """The sync and the week after it, in the place ``settings`` point at: the result and
    the folder of the processes' logs."""
    pool = open_pool(settings, name="koppel-demo")
    api = settings.use_sandbox()
    try:
        with running_sandbox(api, "--seed", str(seed), "--size", size):
            connected = connect_sandbox(
                settings,
                pool,
                name="demo",
                sync_from=date(calendar.today().year - 1, 1, 1),
                poll_interval_s=DEMO_POLL_INTERVAL_S,
            )
            connection = connected.connection
            console.print(
                Text.assemble(
                    "connected Teamleader department ",
                    (connected.department.name or "", "bold"),
                    " to Visma company ",
                    (connected.visma_company, "bold"),
                    f"; {len(connected.mapped)} VAT rates mapped, "
                    f"{len(connected.unmapped)} unmapped",
                )
            )
            workers = [["work", "--queues", queue, "--threads", "4"] for queue in queues.ALL]
            poller = ["poll", "--interval-s", str(DEMO_POLL_INTERVAL_S)]
            log_folder = Path(tempfile.mkdtemp(prefix="koppel-demo-"))
            env = {**os.environ, "KOPPEL_DELETION_CHECK_INTERVAL_S": str(DEMO_DELETION_CHECK_S)}
            with processes([*workers, poller], env, log_folder):
                console.print("first sync: the poller and 4 consumer processes are running…")
                wait_settled(pool, connection, log_folder)
                activity = life_goes_on(settings, pool, connection)
                fixed = ", ".join(activity.customers_fixed) or "no customer"
                console.print(
                    f"meanwhile: {activity.payments_full} invoices paid in full and "
                    f"{activity.payments_partial} in part in Visma; "
                    f"{activity.teamleader_changes} changes in Teamleader (this fiscal year "
                    f"renamed {activity.fiscal_year_name!r}); the bookkeeper "
                    f"completed the address of {fixed}, which Koppel had refused; "
                    f"{len(activity.deleted)} posted invoice deleted in Teamleader…",
                    markup=False,
                    highlight=False,
                )
                wait_settled(pool, connection, log_folder)
                wait_noticed(pool, connection, activity.deleted, log_folder)
            visma_summary = httpx.get(
                f"{api.sandbox_visma_url}/_sandbox/summary",
                timeout=10,
            ).json()
            result = report(pool, connection, visma_summary, console)
            console.print(reconciled(settings, pool, connection), markup=False, highlight=False)
            return result, log_folder
    finally:
        pool.close()
