"""Build a connection's :class:`PostingMap` from the store and both APIs, cached briefly.

Reference data (VAT codes, the chart of accounts, product categories) changes rarely, and
reading it for every invoice would cost several API calls per document. It is cached per
process for :data:`CACHE_TTL_S`; a translation that finds a mapping or account missing asks
for a fresh map once before failing, so a bookkeeper's fix is seen at the next attempt.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date

from clients.visma.models import FiscalYear
from store import mappings
from store.api_clients import ApiClients
from store.connections import Connection
from translation.posting_map import PostingMap, VatMapping

#: How long reference data is trusted (seconds).
CACHE_TTL_S = 300.0


@dataclass
class _Reference:
    loaded_at: float
    posting_maps: dict[str, PostingMap]  # by fiscal year id ("" when none covers the date)
    fiscal_years: list[FiscalYear]


class PostingMaps:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[uuid.UUID, _Reference] = {}

    def invalidate(self, connection_id: uuid.UUID) -> None:
        with self._lock:
            self._cache.pop(connection_id, None)

    def for_date(self, connection: Connection, clients: ApiClients, day: date) -> PostingMap:
        with self._lock:
            reference = self._cache.get(connection.id)
            if reference is None or time.monotonic() - reference.loaded_at > CACHE_TTL_S:
                reference = _Reference(time.monotonic(), {}, clients.visma.fiscal_years())
                self._cache[connection.id] = reference
            year = next((y for y in reference.fiscal_years if y.covers(day)), None)
            year_id = year.Id if year else ""
            posting_map = reference.posting_maps.get(year_id)
            if posting_map is None:
                posting_map = reference.posting_maps[year_id] = _build(
                    connection, clients, year_id or None
                )
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
        visma_accounts=frozenset(
            int(a.Number)
            for a in clients.visma.accounts(fiscal_year_id)
            if a.Number.isdigit() and a.IsActive
        ),
        company_currency=company.CurrencyCode or "EUR",
        invoice_number_rule=connection.invoice_number_rule,
        credit_note_number_rule=connection.credit_note_number_rule,
        tax_rates={rate.id: rate for rate in clients.teamleader.tax_rates(department)},
    )


#: One cache per process, shared by the worker threads.
posting_maps = PostingMaps()
