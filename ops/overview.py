"""What the two services hold, gathered through the clients (the demo's first look).

Pure gathering into plain data; :mod:`ops.demo` renders it. Until the sync pipeline exists
this is the main job: it proves both simulators answer the real clients over OAuth2 and
HTTP, and shows what a sync would have to carry across.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from clients.teamleader.client import TeamleaderClient
from clients.teamleader.models import Department, TaxRate
from clients.visma.client import VismaClient

#: The statuses of a booked invoice (``draft`` is not booked and never synced).
BOOKED_STATUSES = ("outstanding", "matched")


@dataclass
class DocumentTotals:
    count: int = 0
    #: Amounts per currency, to the cent as Teamleader states them.
    tax_exclusive: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    tax_inclusive: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


@dataclass
class DepartmentOverview:
    department: Department
    tax_rates: list[TaxRate]
    #: Product category name → the ledger account Teamleader gives it in this department.
    category_accounts: dict[str, str]
    invoices_by_status: dict[str, DocumentTotals]
    credit_notes: DocumentTotals
    #: VAT per rate over the booked invoices, in EUR only (rate → taxable, tax).
    vat_by_rate: dict[Decimal, tuple[Decimal, Decimal]]


@dataclass
class VismaOverview:
    company_name: str
    currency: str | None
    fiscal_years: list[str]
    accounts: int
    vat_codes: list[tuple[str, str, Decimal]]
    terms_of_payment: int
    customers: int
    ledger_items: int


@dataclass
class Overview:
    user: str
    companies: int
    contacts: int
    departments: list[DepartmentOverview]
    visma: VismaOverview
    #: Ledger accounts used by Teamleader product categories that Visma does not have.
    missing_accounts: dict[str, list[str]]


def _department_overview(
    teamleader: TeamleaderClient, department: Department
) -> DepartmentOverview:
    by_status: dict[str, DocumentTotals] = defaultdict(DocumentTotals)
    vat: dict[Decimal, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for invoice in teamleader.invoices(department_id=department.id):
        totals = by_status[invoice.status]
        currency = invoice.currency or invoice.total.payable.currency or "EUR"
        totals.count += 1
        totals.tax_exclusive[currency] += invoice.total.tax_exclusive.amount
        totals.tax_inclusive[currency] += invoice.total.tax_inclusive.amount
        if invoice.status in BOOKED_STATUSES and currency == "EUR":
            for tax in invoice.total.taxes:
                vat[tax.rate][0] += tax.taxable.amount
                vat[tax.rate][1] += tax.tax.amount
    credit_notes = DocumentTotals()
    for note in teamleader.credit_notes(department_id=department.id):
        currency = note.currency or note.total.payable.currency or "EUR"
        credit_notes.count += 1
        credit_notes.tax_exclusive[currency] += note.total.tax_exclusive.amount
        credit_notes.tax_inclusive[currency] += note.total.tax_inclusive.amount
    categories = {}
    for category in teamleader.product_categories(department_id=department.id):
        for ledger in category.ledgers:
            if ledger.department.id == department.id and ledger.ledger_account_number:
                categories[category.name or category.id] = ledger.ledger_account_number
    return DepartmentOverview(
        department=department,
        tax_rates=teamleader.tax_rates(department_id=department.id),
        category_accounts=categories,
        invoices_by_status=dict(by_status),
        credit_notes=credit_notes,
        vat_by_rate={rate: (t[0], t[1]) for rate, t in sorted(vat.items())},
    )


def _visma_overview(visma: VismaClient) -> tuple[VismaOverview, set[str]]:
    settings = visma.company_settings()
    years = sorted(visma.fiscal_years(), key=lambda y: y.StartDate)
    accounts = visma.accounts()
    overview = VismaOverview(
        company_name=settings.Name,
        currency=settings.CurrencyCode,
        fiscal_years=[f"{y.StartDate} – {y.EndDate}" for y in years],
        accounts=len({a.Number for a in accounts}),
        vat_codes=[(c.Code or "", c.Description or "", c.VatRate) for c in visma.vat_codes()],
        terms_of_payment=len(visma.terms_of_payment()),
        customers=sum(1 for _ in visma.customers()),
        ledger_items=sum(1 for _ in visma.ledger_items()),
    )
    return overview, {a.Number for a in accounts}


def gather(teamleader: TeamleaderClient, visma: VismaClient) -> Overview:
    me = teamleader.me()
    departments = [_department_overview(teamleader, d) for d in teamleader.departments()]
    visma_overview, visma_accounts = _visma_overview(visma)
    missing: dict[str, list[str]] = {}
    for dept in departments:
        absent = sorted(set(dept.category_accounts.values()) - visma_accounts)
        if absent:
            missing[dept.department.name or dept.department.id] = absent
    return Overview(
        user=" ".join(p for p in (me.first_name, me.last_name) if p) or me.id,
        companies=sum(1 for _ in teamleader.companies()),
        contacts=sum(1 for _ in teamleader.contacts()),
        departments=departments,
        visma=visma_overview,
        missing_accounts=missing,
    )


def status_counts(overview: Overview) -> Counter[str]:
    """Invoices per status over all departments."""
    counts: Counter[str] = Counter()
    for dept in overview.departments:
        for status, totals in dept.invoices_by_status.items():
            counts[status] += totals.count
    return counts
