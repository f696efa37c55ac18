"""The pre-flight check: can this connection post every Teamleader document into Visma?

Before a sync or a backfill writes anything, a bookkeeper wants to know what would stop a
document: a Teamleader tax rate without a VAT mapping, a mapping whose VAT code or revenue
account Visma lacks, a product category booking to a ledger account Visma lacks, or a
receivables account Visma lacks. :func:`problems` is the pure check (tested on plain
data); :func:`check_connection` reads what it needs from the store and both APIs.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from clients.teamleader.models import ProductCategory, TaxRate
from clients.visma.models import Account, VatCode
from store import mappings
from store.api_clients import ApiClients
from store.connections import Connection
from translation.errors import percent

#: Kinds of problem, in the order the table lists them.
UNMAPPED_TAX_RATE = "unmapped tax rate"
UNKNOWN_VAT_CODE = "unknown VAT code"
MISSING_ACCOUNT = "missing account"
INACTIVE_ACCOUNT = "inactive account"
KIND_ORDER = (UNMAPPED_TAX_RATE, UNKNOWN_VAT_CODE, MISSING_ACCOUNT, INACTIVE_ACCOUNT)


@dataclass(frozen=True)
class Problem:
    """One thing that stops documents from being posted, and what to do about it."""

    kind: str
    #: What is wrong, e.g. ``tax rate '21%' (21 %)`` or ``account 8150``.
    what: str
    #: Where it is used and what a person does to fix it.
    detail: str


def _account_state(accounts: Sequence[Account], number: int) -> str | None:
    """``None`` when Visma has the account active, else MISSING_ACCOUNT / INACTIVE_ACCOUNT."""
    found = [a for a in accounts if a.Number.strip() == str(number)]
    if not found:
        return MISSING_ACCOUNT
    return None if any(a.IsActive for a in found) else INACTIVE_ACCOUNT


def _account_problem(accounts: Sequence[Account], number: int, used_by: str) -> Problem | None:
    state = _account_state(accounts, number)
    if state is None:
        return None
    fix = (
        "create it in Visma's chart of accounts or choose an existing one"
        if state == MISSING_ACCOUNT
        else "activate it in Visma"
    )
    return Problem(state, f"account {number}", f"{used_by}; {fix}.")


def problems(
    *,
    connection_name: str,
    department_id: str,
    tax_rates: Iterable[TaxRate],
    categories: Iterable[ProductCategory],
    vat_rows: Iterable[mappings.VatRow],
    vat_codes: Iterable[VatCode],
    accounts: Sequence[Account],
    receivables_account: int,
) -> list[Problem]:
    """Every problem, sorted by kind; an empty list means everything is mapped."""
    found: list[Problem] = []
    rows = {row.tax_rate_id: row for row in vat_rows}
    code_ids = {code.Id.lower() for code in vat_codes}
    for rate in tax_rates:
        name = f"tax rate {rate.description or rate.id!r} ({percent(rate.rate)})"
        row = rows.get(rate.id)
        if row is None:
            command = (
                f"koppel mappings set --connection {shlex.quote(connection_name)} "
                f"--tax-rate {shlex.quote(rate.description or rate.id)} "
                "--vat-code CODE --account NUMBER"
            )
            found.append(
                Problem(UNMAPPED_TAX_RATE, name, f"no Visma VAT code or account; run {command}")
            )
            continue
        if row.vat_code_id.lower() not in code_ids:
            found.append(
                Problem(
                    UNKNOWN_VAT_CODE,
                    f"VAT code {row.vat_code or row.vat_code_id}",
                    f"{name} is mapped to it, but Visma has no such VAT code; map the tax "
                    "rate again with `koppel mappings set --vat-code`.",
                )
            )
        problem = _account_problem(accounts, row.revenue_account, f"revenue of {name}")
        if problem:
            found.append(problem)
    for category in categories:
        ledger = (category.ledger_for(department_id) or "").strip()
        # A category without a numeric ledger books to its tax rate's revenue account.
        if not ledger.isdigit():
            continue
        problem = _account_problem(
            accounts,
            int(ledger),
            f"product category {category.name or category.id!r} books to it in Teamleader "
            "(or change the category's ledger account in Teamleader)",
        )
        if problem:
            found.append(problem)
    problem = _account_problem(accounts, receivables_account, "the receivables account")
    if problem:
        found.append(
            Problem(
                problem.kind,
                problem.what,
                problem.detail.rstrip(".") + " (or `koppel mappings set --receivables`).",
            )
        )
    # One row per account, naming every user of it.
    merged: dict[tuple[str, str], Problem] = {}
    for item in found:
        key = (item.kind, item.what)
        if key in merged:
            earlier = merged[key]
            merged[key] = Problem(item.kind, item.what, f"{earlier.detail} {item.detail}")
        else:
            merged[key] = item
    return sorted(merged.values(), key=lambda p: (KIND_ORDER.index(p.kind), p.what))


def check_connection(
    pool: ConnectionPool, connection: Connection, api: ApiClients
) -> list[Problem]:
    """:func:`problems` for a connection, read from the store, Teamleader and Visma."""
    department = connection.teamleader_department_id
    return problems(
        connection_name=connection.name,
        department_id=department,
        tax_rates=api.teamleader.tax_rates(department),
        categories=api.teamleader.product_categories(department),
        vat_rows=mappings.vat_rows(pool, connection.id),
        vat_codes=api.visma.vat_codes(),
        accounts=api.visma.accounts(),
        receivables_account=connection.receivables_account,
    )
