"""A connection's reference data — its PostingMap and its Visma terms of payment — read
from the store and both APIs, cached briefly per process.

Reference data (VAT codes, the chart of accounts, product categories, terms of payment)
changes rarely, and reading it for every document would cost several API calls each. It
is cached for :data:`CACHE_TTL_S`, or until the connection's ``reference_changed_at``
moves (a mapping set, or dead letters requeued after a fix). A translation that finds a
mapping or account missing asks for fresh data once before failing (at most every
:data:`MIN_RELOAD_S`, so a backfill full of one missing account does not reload for every
document), so a bookkeeper's fix is seen at the next attempt. Each connection loads under
its own lock: one connection's slow reload never holds up another's documents.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from clients.visma.models import FiscalYear, TermsOfPayment
from store import mappings
from store.api_clients import ApiClients
from store.connections import Connection
from translation.posting_map import PostingMap, VatMapping

#: How long reference data is trusted (seconds).
CACHE_TTL_S = 300.0
#: The shortest time between two forced reloads of one connection (seconds).
MIN_RELOAD_S = 30.0


@dataclass
class _Reference:
    loaded_at: float
    #: The connection's ``reference_changed_at`` this copy reflects.
    changed_at: datetime
    fiscal_years: list[FiscalYear]
    terms_of_payment: list[TermsOfPayment]
    #: By fiscal year id ("" when none covers the date); built when first needed.
    posting_maps: dict[str, PostingMap] = field(default_factory=dict)


class ReferenceData:
    def __init__(self) -> None:
        self._locks_lock = threading.Lock()
        self._locks: dict[uuid.UUID, threading.Lock] = {}
        self._cache: dict[uuid.UUID, _Reference] = {}

    def _lock(self, connection_id: uuid.UUID) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(connection_id, threading.Lock())

    def invalidate(self, connection_id: uuid.UUID) -> bool:
        """Forget a connection's data unless it was loaded moments ago; True if forgotten."""
        with self._lock(connection_id):
            reference = self._cache.get(connection_id)
            if reference is not None and time.monotonic() - reference.loaded_at < MIN_RELOAD_S:
                return False
            self._cache.pop(connection_id, None)
            return True

    def _reference(self, connection: Connection, clients: ApiClients) -> _Reference:
        """The caller holds the connection's lock."""
        reference = self._cache.get(connection.id)
        if (
            reference is None
            or time.monotonic() - reference.loaded_at > CACHE_TTL_S
            or reference.changed_at != connection.reference_changed_at
        ):
            reference = _Reference(
                time.monotonic(),
                connection.reference_changed_at,
                clients.visma.fiscal_years(),
                clients.visma.terms_of_payment(),
            )
            self._cache[connection.id] = reference
        return reference

    def terms_of_payment(self, connection: Connection, clients: ApiClients) -> list[TermsOfPayment]:
        with self._lock(connection.id):
            return self._reference(connection, clients).terms_of_payment

    def fiscal_year_id(self, connection: Connection, clients: ApiClients, day: date) -> str | None:
        """The id of the Visma fiscal year covering ``day`` (None when there is none)."""
        with self._lock(connection.id):
            reference = self._reference(connection, clients)
            year = next((y for y in reference.fiscal_years if y.covers(day)), None)
            return year.Id if year else None

    def posting_map(self, connection: Connection, clients: ApiClients, day: date) -> PostingMap:
        """The map for a document dated ``day`` (accounts of the fiscal year covering it)."""
        with self._lock(connection.id):
            reference = self._reference(connection, clients)
            year = next((y for y in reference.fiscal_years if y.covers(day)), None)
            year_id = year.Id if year else ""
            posting_map = reference.posting_maps.get(year_id)
            if posting_map is None:
                other_year = next(iter(reference.posting_maps.values()), None)
                if other_year is None:
                    posting_map = _build(connection, clients, year_id or None)
                else:
                    # Only the chart of accounts is per fiscal year: the mappings, VAT codes,
                    # categories and company come from the map already built.
                    posting_map = replace(
                        other_year, visma_accounts=_accounts(clients, year_id or None)
                    )
                reference.posting_maps[year_id] = posting_map
            return posting_map


def _build(connection: Connection, clients: ApiClients, fiscal_year_id: str | None) -> PostingMap:
    from consumers.runtime import runtime

    pool = runtime().pool
    vat_codes = {code.Id.lower(): code for code in clients.visma.vat_codes()}
    rows = mappings.vat_rows(pool, connection.id)
    vat: dict[str, VatMapping] = {}
    for row in rows:
        code = vat_codes.get(row.vat_code_id.lower())
        related = code.RelatedAccounts if code else None
        vat[row.tax_rate_id] = VatMapping(
            tax_rate_id=row.tax_rate_id,
            rate=row.rate,
            description=row.description,
            vat_code_id=row.vat_code_id,
            vat_account=related.AccountNumber1 if related else None,
            revenue_account=row.revenue_account,
        )
    department = connection.teamleader_department_id
    categories = clients.teamleader.product_categories(department)
    category_accounts: dict[str, int] = {}
    for category in categories:
        account = category.ledger_for(department)
        if account and account.strip().isdigit():
            category_accounts[category.id] = int(account)
    company = clients.visma.company_settings()
    return PostingMap(
        department_id=department,
        vat=vat,
        category_accounts=category_accounts,
        category_names={c.id: c.name or c.id for c in categories},
        receivables_account=connection.receivables_account,
        visma_accounts=_accounts(clients, fiscal_year_id),
        company_currency=company.CurrencyCode or "EUR",
        company_country=(company.CountryCode or "").upper(),
        accounting_locked_to=company.AccountingLockedTo,
        locked_period_policy=connection.locked_period_policy,
        invoice_number_rule=connection.invoice_number_rule,
        credit_note_number_rule=connection.credit_note_number_rule,
        exchange_rate_reading=connection.exchange_rate_reading,
        tax_rates={rate.id: rate for rate in clients.teamleader.tax_rates(department)},
    )


def _accounts(clients: ApiClients, fiscal_year_id: str | None) -> frozenset[int]:
    """The active numbered accounts of a Visma fiscal year (the current one for None)."""
    return frozenset(
        int(a.Number)
        for a in clients.visma.accounts(fiscal_year_id)
        if a.Number.isdigit() and a.IsActive
    )


#: One cache per process, shared by the worker threads.
reference_data = ReferenceData()
