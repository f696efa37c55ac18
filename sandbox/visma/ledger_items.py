"""``/v2/customerledgeritems``: list, read, and create with voucher (the posting rule)."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox import clock
from sandbox.visma.errors import QUERY_PARAMETER_ERROR, RESOURCE_NOT_FOUND, VismaApiError
from sandbox.visma.jsonio import JsonResponse, read_json, utc_now
from sandbox.visma.paging import page_of
from sandbox.visma.posting_rules import check_posting, round2
from sandbox.visma.records import LEDGER_ITEM_PROPERTIES
from sandbox.visma.schemas import LedgerItemWithVoucherIn, VoucherRowIn
from sandbox.visma.state import Company
from sandbox.visma.validation import parse
from sandbox.visma.vouchers import (
    CUSTOMER_INVOICE_CREDIT,
    CUSTOMER_INVOICE_DEBIT,
    book_voucher,
    voucher_row,
)


async def list_ledger_items(request: Request, company: Company) -> Response:
    now = time.monotonic()
    listed = [
        item
        for item in company.ledger_items.values()
        if company.listed_from.get(item["Id"], 0.0) <= now
    ]
    return JsonResponse(page_of(request, listed, LEDGER_ITEM_PROPERTIES))


async def get_ledger_item(request: Request, company: Company) -> Response:
    item_id = request.path_params["customerLedgerItemId"].lower()
    record = company.ledger_items.get(item_id)
    if record is None:
        raise VismaApiError(
            RESOURCE_NOT_FOUND, f"Customer ledger item {item_id} was not found.", status=404
        )
    return JsonResponse(record)


async def create_ledger_item_with_voucher(request: Request, company: Company) -> Response:
    item = parse(LedgerItemWithVoucherIn, await read_json(request))
    modes = request.app.state.sim.modes
    posting = check_posting(
        company, item, clock.today(), duplicates_allowed=modes.duplicate_invoice_numbers
    )
    use_default_series = query_flag(request, "useDefaultVoucherSeries", default=True)
    use_default_vat = query_flag(request, "useDefaultVatCodes", default=True)
    automatic_vat = query_flag(request, "useAutomaticVatCalculation", default=False)
    item_id = str(uuid.uuid4())
    voucher = book_voucher(
        company,
        year_id=posting.fiscal_year_id,
        voucher_date=posting.voucher_date,
        text=item.Voucher.VoucherText,
        rows=[
            voucher_row(
                company,
                posting.fiscal_year_id,
                account=row.AccountNumber,
                debit=row.DebitAmount,
                credit=row.CreditAmount,
                text=row.TransactionText,
                vat_code_id=code,
                vat_amount=_vat_amount(company, code, row) if automatic_vat else row.VatAmount,
            )
            for row in item.Voucher.Rows
            for code in [
                _vat_code(company, posting.fiscal_year_id, row, use_default=use_default_vat)
            ]
        ],
        voucher_type=CUSTOMER_INVOICE_CREDIT if item.IsCreditInvoice else CUSTOMER_INVOICE_DEBIT,
        source_id=item_id,
        number_series=None if use_default_series else item.Voucher.NumberSeries,
    )
    invoice_date = item.InvoiceDate or posting.voucher_date
    record = ledger_item_record(
        item_id=item_id,
        customer=posting.customer,
        company=company,
        invoice_number=item.InvoiceNumber,
        invoice_date=invoice_date,
        due_date=item.DueDate,
        currency_code=item.CurrencyCode.upper(),
        currency_rate=posting.currency_rate,
        currency_rate_unit=item.CurrencyRateUnit or 1,
        is_credit=item.IsCreditInvoice,
        total=item.TotalAmountInvoiceCurrency,
        vat=item.VATAmountInvoiceCurrency or Decimal(0),
        roundings=item.RoundingsAmountInvoiceCurrency or Decimal(0),
        payment_reference=item.PaymentReferenceNumber,
        voucher_id=voucher["Id"],
    )
    company.ledger_items[item_id] = record
    if modes.list_delay_s > 0:
        company.listed_from[item_id] = time.monotonic() + modes.list_delay_s
    return JsonResponse(record, status_code=201)


def query_flag(request: Request, name: str, *, default: bool) -> bool:
    """A boolean query option (``true``/``false``, any case); anything else is refused."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise VismaApiError(
            QUERY_PARAMETER_ERROR, f"The query option {name} must be true or false, not {raw!r}."
        )
    return raw.lower() == "true"


def _vat_code(
    company: Company, year_id: str, row: VoucherRowIn, *, use_default: bool
) -> str | None:
    """``useDefaultVatCodes`` (default true) replaces the row's code by its account's default
    (none when the account has none); only ``false`` keeps the code sent (ASSUMPTIONS.md)."""
    if not use_default:
        return row.VatCodeId
    default: str | None = company.accounts[(year_id, row.AccountNumber)]["VatCodeId"]
    return default


def _vat_amount(company: Company, code: str | None, row: VoucherRowIn) -> Decimal | None:
    """``useAutomaticVatCalculation``: the row's VAT is its amount × the code's rate, in cents."""
    if code is None:
        return None
    amount = (row.CreditAmount or Decimal(0)) - (row.DebitAmount or Decimal(0))
    return round2(abs(amount) * Decimal(company.vat_codes[code]["VatRate"]) / 100)


def ledger_item_record(
    *,
    item_id: str,
    customer: dict[str, Any],
    company: Company,
    invoice_number: int,
    invoice_date: date,
    due_date: date | None,
    currency_code: str,
    currency_rate: Decimal,
    currency_rate_unit: int,
    is_credit: bool,
    total: Decimal,
    vat: Decimal,
    roundings: Decimal,
    payment_reference: str | None,
    voucher_id: str,
) -> dict[str, Any]:
    """A ``CustomerLedgerItemApi`` record; the due date defaults from the customer's terms."""
    if due_date is None:
        days = company.terms[customer["TermsOfPaymentId"]]["NumberOfDays"]
        due_date = invoice_date + timedelta(days=days)
    return {
        "CurrencyCode": currency_code,
        "CurrencyRate": currency_rate,
        "CurrencyRateUnit": currency_rate_unit,
        "CustomerId": customer["Id"],
        "DueDate": due_date,
        "Id": item_id,
        "InvoiceDate": invoice_date,
        "InvoiceNumber": invoice_number,
        "IsCreditInvoice": is_credit,
        "ModifiedUtc": utc_now(),
        "PaymentReferenceNumber": payment_reference,
        "RemainingAmountInvoiceCurrency": total,
        "RoundingsAmountInvoiceCurrency": roundings,
        "TotalAmountInvoiceCurrency": total,
        "VATAmountInvoiceCurrency": vat,
        "VoucherId": voucher_id,
    }
