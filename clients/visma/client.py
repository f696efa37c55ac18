"""``VismaClient``: the Visma eAccounting API v2 calls Koppel makes, typed.

One client per connection. It paces itself per endpoint (600 calls per window). Visma
counts "per client and per endpoint/URL", so the limiter key is the OAuth application (its
client id) + the normalised path, shared by every connection of that application (or, with
``visma_rate_scope=company``, the connection too): a shared limiter keeps every process and
connection under Visma's limit together. It refreshes tokens through the store, and
sorts failures with :func:`clients.visma.errors.error_for`. Lists follow ``Meta`` page by
page (``CurrentPage < TotalNumberOfPages``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel

from clients.errors import DataError
from clients.http import ApiSession, RetryPolicy, decode_json
from clients.oauth import RefreshingAuth
from clients.ratelimit import Limiter, SlidingWindowLimiter
from clients.tokens import TokenStore
from clients.visma.auth import visma_oauth_app
from clients.visma.errors import QUERY_PARAMETER_ERROR, SERVICE, error_for
from clients.visma.models import (
    Account,
    CompanySettings,
    Customer,
    CustomerInvoice,
    CustomerLedgerItem,
    CustomerLedgerItemWithVoucher,
    FiscalYear,
    PageMeta,
    TermsOfPayment,
    VatCode,
    Voucher,
)
from config import Settings

logger = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)
Body = BaseModel | Mapping[str, Any]

#: Rows per page unless the settings say otherwise (``visma_page_size``; Visma's maximum is
#: undocumented, a third-party client caps at 200, and so does the sandbox by default).
DEFAULT_PAGE_SIZE = 200
#: Query options of a posting: keep the VAT codes sent; no VAT computed by Visma.
POSTING_OPTIONS = {"useDefaultVatCodes": "false", "useAutomaticVatCalculation": "false"}
_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


def endpoint_key(path: str) -> str:
    """``/v2/customers/3fa8…`` → ``/v2/customers/{id}``: what Visma counts a limit on."""
    segments = path.rstrip("/").split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s.lower() for s in segments)


def budget_key(settings: Settings, connection_id: str, path: str) -> str:
    """What one call spends: ``visma:<client id>:<endpoint>`` — the application's budget
    for the endpoint — or, counting per company, ``visma:<client id>:<connection>:<endpoint>``."""
    company = f"{connection_id}:" if settings.visma_rate_scope == "company" else ""
    return f"visma:{settings.visma_client_id}:{company}{endpoint_key(path)}"


def _same_vat(found: str | None, wanted: str) -> bool:
    def bare(value: str) -> str:
        return "".join(value.split()).replace(".", "").upper()

    return found is not None and bare(found) == bare(wanted)


def odata_text(value: str) -> str:
    """A quoted OData string literal (a quote inside is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def odata_datetime(value: datetime) -> str:
    """An OData timestamp literal in UTC with milliseconds: ``2026-01-31T12:00:00.000Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_body(body: Body) -> Any:
    """A request body: models without their unset (None) fields; dates as ISO text."""
    raw = body.model_dump(exclude_none=True) if isinstance(body, BaseModel) else dict(body)
    return _jsonable(raw)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return odata_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _and(*clauses: str | None) -> str | None:
    present = [c for c in clauses if c]
    if not present:
        return None
    return " and ".join(f"({c})" if len(present) > 1 else c for c in present)


class VismaClient:
    def __init__(self, session: ApiSession, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.session = session
        self.page_size = page_size

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        tokens: TokenStore,
        *,
        connection_id: str,
        limiter: Limiter | None = None,
        transport: httpx.BaseTransport | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
        page_size: int | None = None,
    ) -> VismaClient:
        """A client for one connection; ``limiter`` may be shared by many clients."""
        auth = RefreshingAuth(
            visma_oauth_app(settings), tokens, margin_s=settings.token_refresh_margin_s
        )
        session = ApiSession(
            service=SERVICE,
            base_url=settings.visma_api_url,
            error_for=error_for,
            limiter=limiter
            or SlidingWindowLimiter(settings.visma_calls_per_window, settings.visma_window_s),
            limit_key=lambda request: budget_key(settings, connection_id, request.url.path),
            auth=auth,
            retry=RetryPolicy.from_settings(settings),
            timeout_s=settings.http_timeout_s,
            transport=transport,
            event_hooks=event_hooks,
        )
        return cls(session, page_size=page_size or settings.visma_page_size)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> VismaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return decode_json(self.session.call("GET", path, params=params, read=True))

    def _write(
        self, method: str, path: str, body: Body, params: Mapping[str, Any] | None = None
    ) -> Any:
        return decode_json(
            self.session.call(method, path, body=to_body(body), params=params, read=False)
        )

    def _pages(
        self, path: str, model: type[Model], params: Mapping[str, Any] | None = None
    ) -> Iterator[Model]:
        page = 1
        while True:
            query = {**(params or {}), "$page": page, "$pagesize": self.page_size}
            answer = self._get(path, query)
            for item in answer["Data"]:
                yield model.model_validate(item)
            meta = PageMeta.model_validate(answer["Meta"])
            if meta.CurrentPage >= meta.TotalNumberOfPages:
                return
            page = meta.CurrentPage + 1

    @staticmethod
    def _filter(filter: str | None) -> dict[str, str]:
        return {"$filter": filter} if filter else {}

    # -- customers ---------------------------------------------------------------------
    def customers(self, filter: str | None = None) -> Iterator[Customer]:
        return self._pages("/customers", Customer, self._filter(filter))

    def customer(self, customer_id: str) -> Customer:
        return Customer.model_validate(self._get(f"/customers/{customer_id}"))

    def create_customer(self, body: Body) -> Customer:
        return Customer.model_validate(self._write("POST", "/customers", body))

    def update_customer(self, customer_id: str, body: Body) -> Customer:
        """PUT replaces the customer: send every field it should keep."""
        return Customer.model_validate(self._write("PUT", f"/customers/{customer_id}", body))

    def find_customers(
        self, *, vat_number: str | None = None, customer_number: str | None = None
    ) -> list[Customer]:
        clauses = []
        if vat_number is not None:
            clauses.append(f"VatNumber eq {odata_text(vat_number)}")
        if customer_number is not None:
            clauses.append(f"CustomerNumber eq {odata_text(customer_number)}")
        if not clauses:
            raise ValueError("find_customers needs vat_number or customer_number")

        def same(customer: Customer) -> bool:
            # Compared here too: a filter Visma ignored or read loosely adopts nobody.
            return (vat_number is None or _same_vat(customer.VatNumber, vat_number)) and (
                customer_number is None or customer.CustomerNumber == customer_number
            )

        return [c for c in self._filtered(self.customers, _and(*clauses)) if same(c)]

    # -- customer ledger items ---------------------------------------------------------
    def ledger_items(
        self, filter: str | None = None, modified_since: datetime | None = None
    ) -> Iterator[CustomerLedgerItem]:
        since = f"ModifiedUtc ge {odata_datetime(modified_since)}" if modified_since else None
        return self._pages(
            "/customerledgeritems", CustomerLedgerItem, self._filter(_and(since, filter))
        )

    def ledger_item(self, item_id: str) -> CustomerLedgerItem:
        return CustomerLedgerItem.model_validate(self._get(f"/customerledgeritems/{item_id}"))

    def open_ledger_items(self) -> list[CustomerLedgerItem]:
        """Every ledger item with an amount still open (read whole should Visma refuse the
        filter)."""
        found = self._filtered(self.ledger_items, "RemainingAmountInvoiceCurrency ne 0")
        return [item for item in found if item.RemainingAmountInvoiceCurrency != 0]

    def find_ledger_items(self, invoice_number: int) -> list[CustomerLedgerItem]:
        """The ledger items with this invoice number (the lookup after an ambiguous write);
        more than one only where Visma accepts duplicate numbers."""
        number = int(invoice_number)
        found = self._filtered(self.ledger_items, f"InvoiceNumber eq {number}")
        return [item for item in found if item.InvoiceNumber == number]

    def find_ledger_item(self, invoice_number: int) -> CustomerLedgerItem | None:
        found = self.find_ledger_items(invoice_number)
        return found[0] if found else None

    def _filtered(
        self, listing: Callable[[str | None], Iterator[Model]], filter: str | None
    ) -> list[Model]:
        """``listing`` with ``filter``, or — should Visma refuse to filter on that property
        (6000) — every item, page by page; the caller compares the identifying fields
        either way."""
        try:
            return list(listing(filter))
        except DataError as refused:
            if refused.code != QUERY_PARAMETER_ERROR:
                raise
            logger.info("Visma refused the filter %r (%s); reading every item", filter, refused)
            return list(listing(None))

    def create_ledger_item_with_voucher(
        self, body: CustomerLedgerItemWithVoucher | Mapping[str, Any]
    ) -> CustomerLedgerItem:
        """Posted with ``useDefaultVatCodes=false``: by default Visma replaces each row's VAT
        code by its account's default (the description's query options); Koppel's codes are
        the mapped ones. The caller checks the booked rows (``consumers/postings.py``)."""
        answer = self._write(
            "POST",
            "/customerledgeritems/customerledgeritemswithvoucher",
            body,
            params=POSTING_OPTIONS,
        )
        return CustomerLedgerItem.model_validate(answer)

    # -- vouchers ----------------------------------------------------------------------
    def vouchers(
        self, filter: str | None = None, modified_since: datetime | None = None
    ) -> Iterator[Voucher]:
        since = f"ModifiedUtc ge {odata_datetime(modified_since)}" if modified_since else None
        return self._pages("/vouchers", Voucher, self._filter(_and(since, filter)))

    def voucher(self, fiscal_year_id: str, voucher_id: str) -> Voucher:
        return Voucher.model_validate(self._get(f"/vouchers/{fiscal_year_id}/{voucher_id}"))

    # -- reference data ----------------------------------------------------------------
    def accounts(self, fiscal_year_id: str | None = None) -> list[Account]:
        path = f"/accounts/{fiscal_year_id}" if fiscal_year_id else "/accounts"
        return list(self._pages(path, Account))

    def vat_codes(self) -> list[VatCode]:
        return list(self._pages("/vatcodes", VatCode))

    def fiscal_years(self) -> list[FiscalYear]:
        return list(self._pages("/fiscalyears", FiscalYear))

    def terms_of_payment(self) -> list[TermsOfPayment]:
        return list(self._pages("/termsofpayments", TermsOfPayment))

    def company_settings(self) -> CompanySettings:
        return CompanySettings.model_validate(self._get("/companysettings"))

    # -- customer invoices (invoice mode) ----------------------------------------------
    def customer_invoices(
        self, modified_since: datetime | None = None
    ) -> Iterator[CustomerInvoice]:
        params = {"modifiedSinceUtc": odata_datetime(modified_since)} if modified_since else None
        return self._pages("/customerinvoices", CustomerInvoice, params)

    def create_customer_invoice(self, body: CustomerInvoice | Mapping[str, Any]) -> CustomerInvoice:
        return CustomerInvoice.model_validate(self._write("POST", "/customerinvoices", body))
