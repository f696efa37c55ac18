"""Helpers the Visma tests share (no tests here): settings, authorisation, bodies.

Every client built here talks to the conftest sandbox over real HTTP and carries the spec
checker's hooks, so each exchange is validated against the official description.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from clients.ratelimit import SlidingWindowLimiter
from clients.sandbox_grant import authorize_without_browser
from clients.tokens import MemoryTokenStore, TokenPair
from clients.visma import VismaClient, visma_oauth_app
from config import Settings
from sandbox.visma.company import RECEIVABLES_ACCOUNT, terms_of_payment_id, vat_code_id
from tests.conftest import TODAY, Sandbox
from tests.spec_check import SpecChecker

THIS_YEAR = TODAY.year
TERMS_30_DAYS = terms_of_payment_id("30")
VAT_HIGH = vat_code_id("1a")
VALID_NL_VAT = "NL123456782B01"  # passes the old mod-11 rule
VALID_NL_VAT_MOD97 = "NL000099998B57"  # the Belastingdienst's mod-97 example
VALID_BE_VAT = "BE0403170701"


def visma_settings(sandbox: Sandbox, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "visma_auth_url": sandbox.visma_url,
        "visma_api_url": sandbox.visma_api_url,
        "visma_client_id": "koppel-sandbox",
        "visma_client_secret": SecretStr("koppel-sandbox-secret"),
        "http_backoff_base_ms": 10,
        "http_backoff_max_ms": 200,
        "http_timeout_s": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


def authorize(settings: Settings, **sandbox_params: str) -> TokenPair:
    """The authorization-code flow against the sandbox, which approves at once."""
    return authorize_without_browser(visma_oauth_app(settings), **sandbox_params)


def connect(
    sandbox: Sandbox,
    spec: SpecChecker,
    *,
    connection_id: str = "connection-1",
    limiter: SlidingWindowLimiter | None = None,
    page_size: int | None = None,
    **settings_overrides: Any,
) -> tuple[VismaClient, MemoryTokenStore]:
    settings = visma_settings(sandbox, **settings_overrides)
    store = MemoryTokenStore(authorize(settings))
    client = VismaClient.from_settings(
        settings,
        store,
        connection_id=connection_id,
        limiter=limiter,
        event_hooks=spec.hooks(),
        page_size=page_size,
    )
    return client, store


def customer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": "Bakkerij De Korenschoof B.V.",
        "InvoiceAddress1": "Dorpsstraat 12",
        "InvoicePostalCode": "3512 AB",
        "InvoiceCity": "Utrecht",
        "InvoiceCountryCode": "NL",
        "IsPrivatePerson": False,
        "IsActive": True,
        "TermsOfPaymentId": TERMS_30_DAYS,
    }
    body.update(overrides)
    return body


def posting_body(
    customer_id: str,
    invoice_number: int,
    *,
    net: str = "100.00",
    vat: str = "21.00",
    credit: bool = False,
    invoice_date: date | None = None,
    currency: str = "EUR",
    rate: str | None = None,
) -> dict[str, Any]:
    """A balanced sales posting: receivables against revenue (8000, code 1a) and VAT (1510).

    Amounts are in the invoice currency; rows are booked in euro (× ``rate``). A credit
    invoice has negative totals and the rows swap sides."""
    day = invoice_date or date(THIS_YEAR, 3, 1)
    factor = Decimal(rate) if rate else Decimal(1)
    sign = Decimal(-1) if credit else Decimal(1)
    net_amount, vat_amount = Decimal(net), Decimal(vat)
    total = net_amount + vat_amount
    euro_net = (net_amount * factor).quantize(Decimal("0.01"))
    euro_vat = (vat_amount * factor).quantize(Decimal("0.01"))
    euro_total = (total * factor).quantize(Decimal("0.01"))
    debit, credit_side = (
        ("CreditAmount", "DebitAmount") if credit else ("DebitAmount", "CreditAmount")
    )
    rows: list[dict[str, Any]] = [
        {"AccountNumber": RECEIVABLES_ACCOUNT, debit: euro_total},
        {"AccountNumber": 8000, credit_side: euro_net, "VatCodeId": VAT_HIGH},
    ]
    if euro_vat:
        rows.append({"AccountNumber": 1510, credit_side: euro_vat})
    body: dict[str, Any] = {
        "CustomerId": customer_id,
        "InvoiceNumber": invoice_number,
        "IsCreditInvoice": credit,
        "CurrencyCode": currency,
        "InvoiceDate": day.isoformat(),
        "TotalAmountInvoiceCurrency": sign * total,
        "VATAmountInvoiceCurrency": sign * vat_amount,
        "RemainingAmountInvoiceCurrency": sign * total,
        "Voucher": {
            "VoucherDate": day.isoformat(),
            "VoucherText": f"Factuur {invoice_number}",
            "Rows": rows,
        },
    }
    if rate:
        body["CurrencyRate"] = Decimal(rate)
    return body


def take_request_violations(spec: SpecChecker, expected_text: str) -> None:
    """A test that sends a body the description forbids on purpose (to see Visma refuse it):
    check the checker saw exactly that, and keep every other violation (responses too)."""
    deliberate = [v for v in spec.violations if v.where.endswith("request")]
    assert deliberate, "the request was expected to break the description"
    assert all(expected_text in v.message for v in deliberate), deliberate
    spec.violations = [v for v in spec.violations if not v.where.endswith("request")]
