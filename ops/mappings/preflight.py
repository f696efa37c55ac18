"""The pre-flight check: can this connection post every Teamleader document into Visma?

Before a sync or a backfill writes anything, a bookkeeper wants to know what would stop a
document: a Teamleader tax rate without a VAT mapping, a mapping whose VAT code Visma lacks,
has another rate than the tax rate or books no VAT to an account, a VAT, revenue,
product-category or receivables account Visma lacks, and revenue that would be booked to a
receivables, VAT, bank or other balance-sheet account (``ops/mappings/account_kinds.py``). Accounts
belong to a Visma fiscal year and a consumer books a document with the accounts of the year
that covers its date, so every fiscal year from the connection's ``sync_from`` to today is
checked. :func:`problems` is the pure check (tested on plain data); :func:`check_connection`
reads what it needs from the store and both APIs.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from clients.teamleader.models import ProductCategory, TaxRate
from clients.visma.models import Account, FiscalYear, VatCode
from config import clock as calendar
from ops.mappings.account_kinds import Chart
from store import mappings
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool
from translation.errors import percent

#: Kinds of problem, in the order the table lists them.
UNMAPPED_TAX_RATE = "unmapped tax rate"
UNKNOWN_VAT_CODE = "unknown VAT code"
VAT_RATE_MISMATCH = "VAT code of another rate"
NO_VAT_ACCOUNT = "VAT code without VAT account"
MISSING_ACCOUNT = "missing account"
INACTIVE_ACCOUNT = "inactive account"
NOT_REVENUE_ACCOUNT = "not a revenue account"
COST_CENTRE_REQUIRED = "account needs a cost centre"
LOCKED_PERIOD = "locked period"
KIND_ORDER = (
    UNMAPPED_TAX_RATE,
    UNKNOWN_VAT_CODE,
    VAT_RATE_MISMATCH,
    NO_VAT_ACCOUNT,
    MISSING_ACCOUNT,
    INACTIVE_ACCOUNT,
    NOT_REVENUE_ACCOUNT,
    COST_CENTRE_REQUIRED,
    LOCKED_PERIOD,
)
#: The kinds Visma would not refuse: documents would be posted, and booked wrong.
BOOKS_WRONG = (VAT_RATE_MISMATCH, NOT_REVENUE_ACCOUNT)

#: Fiscal year label → that year's accounts in Visma.
AccountsByYear = Mapping[str, Sequence[Account]]


@dataclass(frozen=True)
class Problem:
    """One thing that stops documents from being posted, and what to do about it."""

    kind: str
    #: What is wrong, e.g. ``tax rate '21%' (21 %)`` or ``account 8150``.
    what: str
    #: Where it is used and what a person does to fix it.
    detail: str
    #: The Teamleader tax rates whose lines it concerns (for a revenue account: lines
    #: without a product category that books elsewhere).
    tax_rate_ids: frozenset[str] = frozenset()
    #: The Teamleader product categories whose lines it concerns.
    category_ids: frozenset[str] = frozenset()


def vat_rate_differs(code: VatCode, rate: TaxRate) -> bool:
    """Does the VAT code charge another rate than the tax rate? (Visma keeps percentages,
    21; Teamleader fractions, 0.21.)"""
    return (code.VatRate / 100).normalize() != rate.rate.normalize()


def mismatch_sentence(code: VatCode, rate: TaxRate, codes: Iterable[VatCode]) -> str:
    """``VAT code 1a is 21 % but tax rate '9%' is 9 %; … codes of 9 %: 1b.``"""
    fitting = sorted(c.Code or c.Id for c in codes if not vat_rate_differs(c, rate))
    fit = (
        f"Visma's VAT codes of {percent(rate.rate)}: {', '.join(fitting)}"
        if fitting
        else f"Visma has no VAT code of {percent(rate.rate)}"
    )
    return (
        f"VAT code {code.Code or code.Id} is {percent(code.VatRate / 100)} but tax rate "
        f"{rate.description or rate.id!r} is {percent(rate.rate)}, so Visma would report the "
        f"VAT under the wrong rate; {fit}."
    )


def _account_state(accounts: Sequence[Account], number: int) -> str | None:
    """``None`` when Visma has the account active, else MISSING_ACCOUNT / INACTIVE_ACCOUNT."""
    found = [a for a in accounts if a.Number.strip() == str(number)]
    if not found:
        return MISSING_ACCOUNT
    return None if any(a.IsActive for a in found) else INACTIVE_ACCOUNT


def _account_problem(years: AccountsByYear, number: int, used_by: str) -> Problem | None:
    """The account's problem in the fiscal years where it has one (named when more than one
    year is checked), or None when every year has it active."""
    states = {label: _account_state(accounts, number) for label, accounts in years.items()}
    bad = [label for label, state in states.items() if state is not None]
    if not bad:
        return None
    state = MISSING_ACCOUNT if MISSING_ACCOUNT in states.values() else INACTIVE_ACCOUNT
    fix = (
        "create it in Visma's chart of accounts or choose an existing one"
        if state == MISSING_ACCOUNT
        else "activate it in Visma"
    )
    where = f" in fiscal year {', '.join(bad)}" if len(years) > 1 else ""
    return Problem(state, f"account {number}{where}", f"{used_by}; {fix}.")


def set_command_line(connection_name: str, rate: TaxRate) -> str:
    """The ``koppel mappings set`` line that maps ``rate`` (code and account to fill in)."""
    return (
        f"koppel mappings set --connection {shlex.quote(connection_name)} "
        f"--tax-rate {shlex.quote(rate.description or rate.id)} --vat-code CODE --account NUMBER"
    )


def vat_code_command_line(connection_name: str, rate: TaxRate, codes: Iterable[VatCode]) -> str:
    """The ``koppel mappings set`` line giving ``rate`` a VAT code of its own rate (filled
    in when Visma has exactly one)."""
    fitting = [c.Code or c.Id for c in codes if not vat_rate_differs(c, rate)]
    return (
        f"koppel mappings set --connection {shlex.quote(connection_name)} "
        f"--tax-rate {shlex.quote(rate.description or rate.id)} "
        f"--vat-code {fitting[0] if len(fitting) == 1 else 'CODE'}"
    )


def problems(
    *,
    connection_name: str,
    department_id: str,
    tax_rates: Iterable[TaxRate],
    categories: Iterable[ProductCategory],
    vat_rows: Iterable[mappings.VatRow],
    vat_codes: Iterable[VatCode],
    accounts: AccountsByYear,
    receivables_account: int,
    country: str | None = None,
) -> list[Problem]:
    """Every problem, sorted by kind; an empty list means everything is mapped.

    ``country``: the Visma company's, whose standard chart tells an account's kind when
    Visma gives it no type."""
    found: list[Problem] = []
    rows = {row.tax_rate_id: row for row in vat_rows}
    code_list = list(vat_codes)
    codes = {code.Id.lower(): code for code in code_list}
    charts = {
        label: Chart(year, country, code_list, receivables_account)
        for label, year in accounts.items()
    }
    revenue_users = _RevenueUsers()
    for rate in tax_rates:
        name = f"tax rate {rate.description or rate.id!r} ({percent(rate.rate)})"
        row = rows.get(rate.id)
        if row is None:
            command = set_command_line(connection_name, rate)
            found.append(
                Problem(UNMAPPED_TAX_RATE, name, f"no Visma VAT code or account; run {command}")
            )
            continue
        code = codes.get(row.vat_code_id.lower())
        code_name = f"VAT code {row.vat_code or row.vat_code_id}"
        if code is None:
            found.append(
                Problem(
                    UNKNOWN_VAT_CODE,
                    code_name,
                    f"{name} is mapped to it, but Visma has no such VAT code; map the tax "
                    "rate again with `koppel mappings set --vat-code`.",
                )
            )
        elif vat_rate_differs(code, rate):
            found.append(
                Problem(
                    VAT_RATE_MISMATCH,
                    name,
                    mismatch_sentence(code, rate, code_list)
                    + f" Map it again: {vat_code_command_line(connection_name, rate, code_list)}",
                    tax_rate_ids=frozenset({rate.id}),
                )
            )
        if code is not None and rate.rate:
            # A document charging this rate books its VAT to the code's first related
            # account (translation.ledger_items); a 0 % rate books none.
            vat_account = code.RelatedAccounts.AccountNumber1 if code.RelatedAccounts else None
            if vat_account is None:
                found.append(
                    Problem(
                        NO_VAT_ACCOUNT,
                        code_name,
                        f"{name} is mapped to it, but in Visma it books VAT to no account; "
                        "give the VAT code an account in Visma or map the tax rate again "
                        "with `koppel mappings set --vat-code`.",
                    )
                )
            else:
                problem = _account_problem(accounts, vat_account, f"VAT of {name} ({code_name})")
                if problem:
                    found.append(problem)
        problem = _account_problem(accounts, row.revenue_account, f"revenue of {name}")
        if problem:
            found.append(problem)
        revenue_users.add(
            row.revenue_account,
            f"revenue of {name} (`koppel mappings set --connection "
            f"{shlex.quote(connection_name)} --tax-rate "
            f"{shlex.quote(rate.description or rate.id)} --account NUMBER`)",
            row.vat_code_id,
            tax_rate_id=rate.id,
        )
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
        revenue_users.add(
            int(ledger),
            f"product category {category.name or category.id!r} (change its ledger account "
            "in Teamleader)",
            None,
            category_id=category.id,
        )
    found += revenue_users.problems(charts)
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
            merged[key] = Problem(
                item.kind,
                item.what,
                f"{earlier.detail} {item.detail}",
                earlier.tax_rate_ids | item.tax_rate_ids,
                earlier.category_ids | item.category_ids,
            )
        else:
            merged[key] = item
    return sorted(merged.values(), key=lambda p: (KIND_ORDER.index(p.kind), p.what))


class _RevenueUsers:
    """Who books revenue to which account, to name every user of a wrong one in one row."""

    def __init__(self) -> None:
        self.users: dict[int, list[str]] = {}
        self.vat_code: dict[int, str | None] = {}
        self.tax_rates: dict[int, set[str]] = {}
        self.categories: dict[int, set[str]] = {}

    def add(
        self,
        number: int,
        user: str,
        vat_code_id: str | None,
        *,
        tax_rate_id: str | None = None,
        category_id: str | None = None,
    ) -> None:
        self.users.setdefault(number, []).append(user)
        self.vat_code.setdefault(number, vat_code_id)
        if tax_rate_id:
            self.tax_rates.setdefault(number, set()).add(tax_rate_id)
        if category_id:
            self.categories.setdefault(number, set()).add(category_id)

    def problems(self, charts: Mapping[str, Chart]) -> list[Problem]:
        """One problem per account that some fiscal year's chart says is no revenue account
        (a missing account is reported as missing, not judged)."""
        found: list[Problem] = []
        for number, users in self.users.items():
            refusal = next(
                (
                    reason
                    for chart in charts.values()
                    if chart.account(number) is not None
                    and (reason := chart.revenue_refusal(number, self.vat_code[number]))
                ),
                None,
            )
            if refusal is None:
                continue
            found.append(
                Problem(
                    NOT_REVENUE_ACCOUNT,
                    f"account {number}",
                    f"{refusal[0].upper()}{refusal[1:]} Used for " + "; ".join(users) + ".",
                    frozenset(self.tax_rates.get(number, ())),
                    frozenset(self.categories.get(number, ())),
                )
            )
        return found


def _year_label(year: FiscalYear) -> str:
    if year.StartDate.year == year.EndDate.year:
        return str(year.StartDate.year)
    return f"{year.StartDate.isoformat()}–{year.EndDate.isoformat()}"


def accounts_by_year(api: ApiClients, since: date, until: date) -> dict[str, list[Account]]:
    """The accounts of every Visma fiscal year a document dated ``since``..``until`` falls
    in, as the consumers read them (consumers/reference_data.py): per fiscal year, and
    Visma's default list for a date no fiscal year covers."""
    years = sorted(api.visma.fiscal_years(), key=lambda y: y.StartDate)
    chosen = [y for y in years if y.StartDate <= until and y.EndDate >= since]
    found = {_year_label(y): api.visma.accounts(y.Id) for y in chosen}
    if not any(y.covers(since) for y in years) or not any(y.covers(until) for y in years):
        found["(no fiscal year)"] = api.visma.accounts()
    return found


def check_connection(
    pool: Pool,
    connection: Connection,
    api: ApiClients,
    today: date | None = None,
    since: date | None = None,
) -> list[Problem]:
    """:func:`problems` for a connection, read from the store, Teamleader and Visma; accounts
    of every fiscal year from ``since`` (the connection's ``sync_from``) to ``today``."""
    department = connection.teamleader_department_id
    today = today or calendar.today()
    since = min(since or connection.sync_from, today)
    company = api.visma.company_settings()
    categories = api.teamleader.product_categories(department)
    vat_rows = mappings.vat_rows(pool, connection.id)
    accounts = accounts_by_year(api, since, today)
    found = problems(
        country=company.CountryCode,
        connection_name=connection.name,
        department_id=department,
        tax_rates=api.teamleader.tax_rates(department),
        categories=categories,
        vat_rows=vat_rows,
        vat_codes=api.visma.vat_codes(),
        accounts=accounts,
        receivables_account=connection.receivables_account,
    )
    mapped = {row.revenue_account for row in vat_rows}
    for category in categories:
        ledger = category.ledger_for(department)
        if ledger and ledger.strip().isdigit():
            mapped.add(int(ledger))
    found += cost_centre_problems(accounts, mapped)
    locked = locked_period_problem(
        company.AccountingLockedTo, since, connection.locked_period_policy, connection.name
    )
    return found + ([locked] if locked else [])


def cost_centre_problems(accounts: AccountsByYear, mapped: Iterable[int]) -> list[Problem]:
    """Mapped accounts on which Visma refuses a row without a first cost centre, which a
    voucher row sent through the API cannot carry (``VoucherRowApi.CostCenterItemId1`` is
    read-only): every document with a line booked there would be refused."""
    wanted = set(mapped)
    needing: dict[int, list[str]] = {}
    for year, chart in accounts.items():
        for account in chart:
            number = int(account.Number) if account.Number.isdigit() else None
            if number in wanted and account.IsFirstCostCenterMandatory:
                needing.setdefault(number, []).append(year)
    return [
        Problem(
            COST_CENTRE_REQUIRED,
            f"account {number}",
            f"Visma requires a cost centre on every row of account {number} ({', '.join(years)}), "
            "and Koppel cannot send one: turn off its mandatory cost centre in Visma or map "
            "those lines to another account.",
        )
        for number, years in sorted(needing.items())
    ]


def locked_period_problem(
    locked_to: date | None, since: date, policy: str, connection_name: str
) -> Problem | None:
    """Visma's accounting lock, when documents from ``since`` fall before it."""
    if locked_to is None or locked_to < since:
        return None
    if policy == "post_on_first_open_day":
        then = f"they are posted on {(locked_to + timedelta(days=1)).isoformat()}"
    else:
        then = (
            "Visma refuses them: ask the bookkeeper to unlock the period, or run `koppel "
            f"mappings set --connection {shlex.quote(connection_name)} --locked-period-policy "
            "post_on_first_open_day`"
        )
    return Problem(
        LOCKED_PERIOD,
        f"accounting locked to {locked_to.isoformat()}",
        f"documents dated {since.isoformat()} to {locked_to.isoformat()} are in a period "
        f"Visma has locked; {then} (`koppel backfill --dry-run` lists them).",
    )
