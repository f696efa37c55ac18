"""``koppel demo``: the main job on the simulators.

Starts both simulators with generated data, authorises against each through the OAuth2
authorization-code flow, and shows through the real clients what they hold. The sync
pipeline (poller, queues, consumers) plugs in here as it is built.
"""

from __future__ import annotations

import sys
from decimal import Decimal

import click
from rich.console import Console
from rich.table import Table

from clients.errors import ApiError
from clients.sandbox_grant import authorize_without_browser
from clients.teamleader import TeamleaderClient, teamleader_oauth_app
from clients.tokens import MemoryTokenStore
from clients.visma import VismaClient, visma_oauth_app
from config import get_settings
from ops.overview import Overview, gather, status_counts
from ops.sandbox_session import running_sandbox


def _money(amounts: dict[str, object]) -> str:
    return ", ".join(f"{currency} {amount:,.2f}" for currency, amount in sorted(amounts.items()))


def render(overview: Overview, console: Console) -> None:
    console.print(
        f"[bold]Teamleader[/] (authorised as {overview.user}): "
        f"{overview.companies} companies, {overview.contacts} contacts"
    )
    for dept in overview.departments:
        d = dept.department
        table = Table(title=f"{d.name} · {d.vat_number or 'no VAT number'} · {d.currency or ''}")
        table.add_column("documents")
        table.add_column("count", justify="right")
        table.add_column("excl. VAT", justify="right")
        table.add_column("incl. VAT", justify="right")
        for status, totals in sorted(dept.invoices_by_status.items()):
            table.add_row(
                f"invoices, {status}",
                str(totals.count),
                _money(totals.tax_exclusive),
                _money(totals.tax_inclusive),
            )
        table.add_row(
            "credit notes",
            str(dept.credit_notes.count),
            _money(dept.credit_notes.tax_exclusive),
            _money(dept.credit_notes.tax_inclusive),
        )
        console.print(table)
        # Teamleader totals VAT per rate value: "0%", "0% verlegd" and "0% ICL" share a row.
        rates = Table(title="VAT per rate on booked EUR invoices")
        rates.add_column("rate", justify="right")
        rates.add_column("Teamleader tax rates")
        rates.add_column("taxable", justify="right")
        rates.add_column("VAT", justify="right")
        for rate in sorted({r.rate for r in dept.tax_rates} | set(dept.vat_by_rate)):
            names = ", ".join(r.description or r.id for r in dept.tax_rates if r.rate == rate)
            taxable, tax = dept.vat_by_rate.get(rate, (Decimal(0), Decimal(0)))
            rates.add_row(f"{rate:.0%}", names, f"{taxable:,.2f}", f"{tax:,.2f}")
        console.print(rates)
        categories = ", ".join(f"{n} → {a}" for n, a in sorted(dept.category_accounts.items()))
        console.print(f"product categories: {categories or 'none'}\n")

    v = overview.visma
    table = Table(title=f"Visma · {v.company_name} · {v.currency or ''}")
    table.add_column("what")
    table.add_column("holds")
    table.add_row("fiscal years", "; ".join(v.fiscal_years))
    table.add_row("accounts", str(v.accounts))
    table.add_row(
        "VAT codes", "; ".join(f"{code} {rate}% {desc}" for code, desc, rate in v.vat_codes)
    )
    table.add_row("terms of payment", str(v.terms_of_payment))
    table.add_row("customers", str(v.customers))
    table.add_row("customer ledger items", str(v.ledger_items))
    console.print(table)
    for department, accounts in overview.missing_accounts.items():
        console.print(
            f"[yellow]note:[/] {department} books to ledger account(s) {', '.join(accounts)}, "
            "which this Visma company does not have"
        )


@click.command("demo")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--size", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True
)
def demo_command(seed: int, size: str) -> None:
    """Run the simulators with generated data and show what both services hold."""
    settings = get_settings().use_sandbox()
    console = Console()
    try:
        with running_sandbox(settings, "--seed", str(seed), "--size", size):
            teamleader = TeamleaderClient(
                settings,
                MemoryTokenStore(authorize_without_browser(teamleader_oauth_app(settings))),
                "demo",
            )
            visma = VismaClient.from_settings(
                settings,
                MemoryTokenStore(authorize_without_browser(visma_oauth_app(settings))),
                connection_id="demo",
            )
            with teamleader, visma:
                overview = gather(teamleader, visma)
    except (ApiError, RuntimeError) as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        sys.exit(1)
    render(overview, console)
    counts = status_counts(overview)
    credit_notes = sum(d.credit_notes.count for d in overview.departments)
    console.print(
        f"demo: Teamleader holds {sum(counts.values())} invoices "
        f"({counts['outstanding']} outstanding, {counts['matched']} matched, "
        f"{counts['draft']} draft), {credit_notes} credit notes, "
        f"{overview.companies + overview.contacts} customers; Visma holds "
        f"{overview.visma.accounts} accounts and {overview.visma.ledger_items} ledger items"
    )
