"""Companies in memory: one :class:`Company` per Visma company, keyed by its id.

The simulator serves one event loop and no handler awaits between reading and changing a
company, so no lock is needed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sandbox.visma.company import ARTICLES, DEFAULT_COMPANY_ID, article_id, vat_code_id
from sandbox.visma.dataset import VismaData, parse_visma
from sandbox.visma.jsonio import utc_now
from sandbox.visma.records import account_record, customer_record


@dataclass
class Company:
    id: str
    settings: dict[str, Any]
    fiscal_years: dict[str, dict[str, Any]]
    #: (FiscalYearId, account number) → AccountApi record.
    accounts: dict[tuple[str, int], dict[str, Any]]
    vat_codes: dict[str, dict[str, Any]]
    terms: dict[str, dict[str, Any]]
    #: The articles POST /customerinvoices rows may name (internal: no /articles endpoint).
    articles: dict[str, dict[str, Any]]
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    vouchers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Voucher id → its fiscal year id (GET /vouchers/{fiscalyearId}/{voucherId}).
    voucher_years: dict[str, str] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Ledger item id → the customer invoice it belongs to (invoice mode).
    invoice_of_ledger_item: dict[str, str] = field(default_factory=dict)
    next_voucher_number: int = 1
    #: Ledger item id → the moment (``time.monotonic()``) it shows up in list answers
    #: (the mode ``list_delay_s``); an item not here is listed at once.
    listed_from: dict[str, float] = field(default_factory=dict)
    #: VIES as this company's Visma sees it (control ``/_sandbox/vies``): VAT numbers with a
    #: valid check digit that VIES does not know (4025), and whether VIES answers at all.
    vies_unregistered: set[str] = field(default_factory=set)
    vies_down: bool = False
    #: How a VIES outage is answered: 5001 CantReachSystemDependency (HTTP 503) or 4100
    #: ExternalServiceValidation (HTTP 400).
    vies_down_code: int = 5001

    def fiscal_year_for(self, day: date) -> dict[str, Any] | None:
        for year in self.fiscal_years.values():
            if year["StartDate"] <= day <= year["EndDate"]:
                return year
        return None

    def vat_accounts(self) -> set[int]:
        """Every account a VAT code's RelatedAccounts names: where VAT is booked."""
        numbers: set[int] = set()
        for code in self.vat_codes.values():
            related = code["RelatedAccounts"]
            numbers.update(
                n for n in (related.get(f"AccountNumber{i}") for i in (1, 2, 3)) if n is not None
            )
        return numbers

    def next_customer_number(self) -> str:
        taken = {c["CustomerNumber"] for c in self.customers.values()}
        number = self.settings["NextCustomerNumber"]
        while str(number) in taken:
            number += 1
        self.settings["NextCustomerNumber"] = number + 1
        return str(number)

    def take_voucher_number(self) -> int:
        number = self.next_voucher_number
        self.next_voucher_number += 1
        return number


def build_company(company_id: str, part: dict[str, Any]) -> Company:
    """A company from a data set part (validated here too; DatasetError when it does not fit)."""
    return company_from_data(company_id, parse_visma(part))


def company_from_data(company_id: str, data: VismaData) -> Company:
    created = utc_now()
    vat_codes = {v.Id: v.model_dump() for v in data.vat_codes}
    terms = {t.Id: t.model_dump() for t in data.terms_of_payment}
    accounts = {
        (a.FiscalYearId, int(a.Number)): account_record(
            a,
            vat_description=vat_codes[a.VatCodeId]["Description"] if a.VatCodeId else None,
            created=created,
        )
        for a in data.accounts
    }
    company = Company(
        id=company_id,
        settings=data.settings.model_dump(),
        fiscal_years={y.Id: y.model_dump() for y in data.fiscal_years},
        accounts=accounts,
        vat_codes=vat_codes,
        terms=terms,
        articles={
            article_id(number): {
                "Number": number,
                "Name": name,
                "VatCodeId": vat_code_id(code),
                "AccountNumber": account,
            }
            for number, name, code, account in ARTICLES
        },
    )
    for item in data.customers:
        number = item.CustomerNumber or company.next_customer_number()
        customer_id = item.Id or str(uuid.uuid4())
        company.customers[customer_id] = customer_record(
            item,
            customer_id=customer_id,
            number=number,
            changed=created,
            terms=terms[item.TermsOfPaymentId],
        )
    return company


class Companies:
    """Every company the simulator holds; the default one serves a grant without ``company``."""

    def __init__(self, default_part: dict[str, Any]) -> None:
        self.by_id: dict[str, Company] = {}
        self.reset_default(default_part)

    @property
    def default(self) -> Company:
        return self.by_id[DEFAULT_COMPANY_ID]

    def reset_default(self, part: dict[str, Any]) -> Company:
        company = build_company(DEFAULT_COMPANY_ID, part)
        self.by_id[DEFAULT_COMPANY_ID] = company
        return company

    def add(self, part: dict[str, Any]) -> Company:
        company = build_company(str(uuid.uuid4()), part)
        self.by_id[company.id] = company
        return company

    def get(self, company_id: str | None) -> Company | None:
        return self.by_id.get(company_id or DEFAULT_COMPANY_ID)


def touched() -> datetime:
    """The timestamp a change stamps on ModifiedUtc/ChangedUtc."""
    return utc_now()
