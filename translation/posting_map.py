"""Everything a translation needs to know about one connection, as plain immutable data.

The consumer builds a :class:`PostingMap` from the store (VAT mappings, category ledgers)
and from Visma (which accounts exist), so the translation itself stays a pure function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType

from clients.teamleader.models import TaxRate


@dataclass(frozen=True)
class VatMapping:
    """One Teamleader tax rate → the Visma VAT code and accounts its lines book to."""

    tax_rate_id: str
    #: A fraction (0.21 for 21 %), as Teamleader reports it in ``total.taxes[].rate``.
    rate: Decimal
    description: str | None
    vat_code_id: str
    #: Where the VAT code books its VAT (its ``RelatedAccounts``); None for 0 % codes.
    vat_account: int | None
    #: Revenue for lines without a (mapped) product category.
    revenue_account: int

    def __post_init__(self) -> None:
        # A float rate would make every comparison with Teamleader's Decimal rates unreliable.
        if not isinstance(self.rate, Decimal):
            raise TypeError(f"VatMapping.rate must be a Decimal, got {type(self.rate).__name__}")


def _frozen(mapping: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, kw_only=True)
class PostingMap:
    """The mappings of one connection (one Teamleader department ↔ one Visma company).

    Keyword-only: several fields are mappings of the same shape, and a positional mix-up
    between them would post to wrong accounts without any error."""

    department_id: str
    #: By Teamleader tax rate id.
    vat: Mapping[str, VatMapping]
    #: Teamleader product category id → ledger account for this department.
    category_accounts: Mapping[str, int]
    #: Teamleader product category id → its name (for messages and row texts only).
    category_names: Mapping[str, str] = field(default_factory=dict)
    receivables_account: int
    #: Every account number that exists in the Visma company (in the documents' fiscal year).
    visma_accounts: frozenset[int]
    company_currency: str
    #: The Visma company's country (``CompanySettings.CountryCode``): Visma reads a voucher
    #: row's ``VatAmount`` for Dutch and Danish companies only.
    company_country: str = ""
    #: Visma's ``AccountingLockedTo``: the last day of the locked period (None: no lock).
    accounting_locked_to: date | None = None
    #: The connection's ``locked_period_policy``: ``refuse`` or ``post_on_first_open_day``.
    locked_period_policy: str = "refuse"
    invoice_number_rule: str = "{year}{number:05d}"
    credit_note_number_rule: str = "{year}9{number:04d}"
    #: "labels" (amount in ``to`` = amount in ``from`` ÷ rate) or "flipped" (× rate).
    exchange_rate_reading: str = "labels"
    #: Optional: every Teamleader tax rate of the department, mapped or not, so that an
    #: unmapped one can be named by description and rate (a line only carries its id).
    tax_rates: Mapping[str, TaxRate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, mapping in self.vat.items():
            if key != mapping.tax_rate_id:
                raise ValueError(
                    f"PostingMap.vat key {key!r} holds the mapping of {mapping.tax_rate_id!r}"
                )
        # Read-only views: a frozen dataclass should not be changeable through its fields.
        for name in ("vat", "category_accounts", "category_names", "tax_rates"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "visma_accounts", frozenset(self.visma_accounts))
        object.__setattr__(self, "company_currency", self.company_currency.upper())


def voucher_date_for(day: date, posting_map: PostingMap) -> date:
    """The voucher date of a document dated ``day``: the day itself, or, for a document in a
    period Visma has locked under ``post_on_first_open_day``, the day after the lock."""
    locked_to = posting_map.accounting_locked_to
    if (
        locked_to is None
        or day > locked_to
        or posting_map.locked_period_policy != "post_on_first_open_day"
    ):
        return day
    return locked_to + timedelta(days=1)
