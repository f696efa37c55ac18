"""What ``koppel mappings set`` would change, checked against Visma before anything is
stored (all or nothing), and storing it: no click here, the command prints.

Every value is looked up in Visma (or Teamleader) and every one it lacks is named. What
Visma would accept but book wrong is refused: revenue on a receivables, VAT, bank or other
balance-sheet account (``ops/mappings/account_kinds.py``), a VAT code of another rate than
the tax rate (unless ``force``: then stored, with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clients.teamleader.models import TaxRate
from clients.visma.models import Account, TermsOfPayment, VatCode
from config import Settings
from ops.lookups import connection_clients
from ops.mappings.account_kinds import Chart
from ops.mappings.number_rules import number_rule_problems
from ops.mappings.preflight import mismatch_sentence, vat_rate_differs
from store import connections, mappings
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool


@dataclass(frozen=True)
class Wanted:
    """What ``set`` was given for one tax rate."""

    tax_rate: str
    vat_code: str | None
    account: int | None
    #: Store a VAT code of another rate all the same.
    force: bool


@dataclass
class Change:
    """What ``set`` stores, or every reason it stores nothing."""

    vat_row: mappings.VatRow | None = None
    #: Connection columns → their new values.
    columns: dict[str, object] = field(default_factory=dict)
    #: The name of the terms of payment in ``columns``, for saying what was set.
    terms_name: str | None = None
    problems: list[str] = field(default_factory=list)
    #: A choice stored all the same (``--force``), to be said.
    warnings: list[str] = field(default_factory=list)


def plan_change(
    settings: Settings,
    pool: Pool,
    connection: Connection,
    *,
    tax_rate: str | None,
    vat_code: str | None,
    account: int | None,
    receivables: int | None,
    invoice_number_rule: str | None,
    credit_note_number_rule: str | None,
    default_terms: str | None,
    force: bool,
    credits_of_earlier_invoices: str | None = None,
    exchange_rate_reading: str | None = None,
    locked_period_policy: str | None = None,
) -> Change:
    """Every given value checked: Visma is asked only when a value needs it."""
    change = Change()
    problems, columns = change.problems, change.columns
    # Choices click has checked already (issue 13): stored as they are.
    if credits_of_earlier_invoices is not None:
        columns["credits_of_earlier_invoices"] = credits_of_earlier_invoices
    if exchange_rate_reading is not None:
        columns["exchange_rate_reading"] = exchange_rate_reading
    if locked_period_policy is not None:
        if locked_period_policy in connections.LOCKED_PERIOD_POLICIES:
            columns["locked_period_policy"] = locked_period_policy
        else:
            problems.append(
                f"--locked-period-policy must be one of "
                f"{', '.join(connections.LOCKED_PERIOD_POLICIES)}, not {locked_period_policy!r}."
            )
    if invoice_number_rule is not None or credit_note_number_rule is not None:
        invoice_rule = invoice_number_rule or connection.invoice_number_rule
        credit_rule = credit_note_number_rule or connection.credit_note_number_rule
        rule_problems = number_rule_problems(invoice_rule, credit_rule)
        problems += rule_problems
        if not rule_problems:
            if invoice_number_rule is not None:
                columns["invoice_number_rule"] = invoice_rule
            if credit_note_number_rule is not None:
                columns["credit_note_number_rule"] = credit_rule
    if tax_rate is not None or receivables is not None or default_terms is not None:
        with connection_clients(settings, pool, connection) as api:
            accounts = api.visma.accounts()
            if tax_rate is not None:
                chart = Chart(
                    accounts,
                    api.visma.company_settings().CountryCode,
                    api.visma.vat_codes(),
                    connection.receivables_account if receivables is None else receivables,
                )
                wanted = Wanted(tax_rate, vat_code, account, force)
                change.vat_row, refused, warning = vat_row(api, pool, connection, wanted, chart)
                problems += refused
                if warning:
                    change.warnings.append(warning)
            if receivables is not None:
                problem = account_problem(accounts, receivables, "for receivables")
                if problem:
                    problems.append(problem)
                else:
                    columns["receivables_account"] = receivables
            if default_terms is not None:
                terms = api.visma.terms_of_payment()
                term = find_terms(terms, default_terms)
                if term is None:
                    known = ", ".join(repr(t.Name) for t in terms)
                    problems.append(
                        f"Visma has no terms of payment {default_terms!r} (it has {known})."
                    )
                else:
                    columns["default_terms_of_payment_id"] = term.Id
                    change.terms_name = term.Name
    return change


def store(pool: Pool, connection: Connection, change: Change) -> Connection | None:
    """Store a change without problems; the connection as updated (None: no column set)."""
    if change.vat_row is not None:
        mappings.set_vat(pool, connection.id, change.vat_row)
    if change.columns:
        return connections.update(pool, connection.id, **change.columns)
    return None


def vat_row(
    api: ApiClients,
    pool: Pool,
    connection: Connection,
    wanted: Wanted,
    chart: Chart,
) -> tuple[mappings.VatRow | None, list[str], str | None]:
    """(the row to store for ``--tax-rate``, every reason it cannot be stored, a warning).

    A tax rate that is mapped already may change only its code or only its account. The
    code must charge the tax rate's rate (unless ``force``); the account must be able to
    carry revenue (not receivables, VAT, bank or another balance-sheet account)."""
    wanted_code, wanted_account = wanted.vat_code, wanted.account
    rate = find_tax_rate(
        api.teamleader.tax_rates(connection.teamleader_department_id), wanted.tax_rate
    )
    if isinstance(rate, str):
        return None, [rate], None
    name = repr(rate.description or rate.id)
    current = {row.tax_rate_id: row for row in mappings.vat_rows(pool, connection.id)}.get(rate.id)
    if current is None and (wanted_code is None or wanted_account is None):
        problem = f"Tax rate {name} has no mapping yet: give both --vat-code and --account."
        return None, [problem], None
    code_id, code_name, revenue = (
        (current.vat_code_id, current.vat_code, current.revenue_account)
        if current
        else ("", None, 0)
    )
    problems: list[str] = []
    note: str | None = None  # a forced choice: stored, and said
    if wanted_code is not None:
        codes = list(chart.vat_codes)
        code = find_vat_code(codes, wanted_code)
        if code is None:
            known = ", ".join(c.Code or c.Id for c in codes)
            problems.append(f"Visma has no VAT code {wanted_code!r} (it has {known}).")
        else:
            code_id, code_name = code.Id, code.Code
            if vat_rate_differs(code, rate):
                sentence = mismatch_sentence(code, rate, codes)
                if wanted.force:
                    note = (
                        f"warning: stored with --force: {sentence} `koppel mappings check` "
                        "reports it until it is mapped again."
                    )
                else:
                    problems.append(f"{sentence} Add --force to store it all the same.")
    if wanted_account is not None:
        refused = account_problem(
            list(chart.accounts), wanted_account, f"revenue of tax rate {name}"
        ) or chart.revenue_refusal(wanted_account, code_id or None)
        if refused:
            problems.append(refused)
        revenue = wanted_account
    if problems:
        return None, problems, None
    row = mappings.VatRow(
        tax_rate_id=rate.id,
        rate=rate.rate,
        description=rate.description,
        vat_code_id=code_id,
        vat_code=code_name,
        revenue_account=revenue,
    )
    return row, [], note


# -- lookups in the live data --------------------------------------------------------------
def find_tax_rate(rates: list[TaxRate], wanted: str) -> TaxRate | str:
    """The tax rate with this id or description, or why there is none."""
    by_id = [r for r in rates if r.id == wanted]
    if by_id:
        return by_id[0]
    named = [r for r in rates if (r.description or "").strip().lower() == wanted.strip().lower()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(r.id for r in named)
        return f"Several Teamleader tax rates are called {wanted!r}; give one of their ids: {ids}."
    known = ", ".join(repr(r.description or r.id) for r in rates) or "none"
    return f"The Teamleader department has no tax rate {wanted!r} (it has {known})."


def find_vat_code(codes: list[VatCode], wanted: str) -> VatCode | None:
    for code in codes:
        if wanted.lower() in ((code.Code or "").lower(), code.Id.lower()):
            return code
    return None


def account_problem(accounts: list[Account], number: int, purpose: str) -> str | None:
    """Why ``number`` cannot be used in Visma (None: it exists and is active)."""
    found = [a for a in accounts if a.Number.strip() == str(number)]
    if not found:
        return (
            f"Visma has no ledger account {number} ({purpose}); create it in Visma's chart "
            "of accounts or choose an existing one."
        )
    if not any(a.IsActive for a in found):
        return f"Visma's ledger account {number} ({purpose}) is inactive; activate it in Visma."
    return None


def find_terms(terms: list[TermsOfPayment], wanted: str) -> TermsOfPayment | None:
    lowered = wanted.strip().lower()
    for term in terms:
        names = {
            (term.Id or "").lower(),
            (term.Name or "").lower(),
            (term.NameEnglish or "").lower(),
        }
        if lowered in names:
            return term
    return None
