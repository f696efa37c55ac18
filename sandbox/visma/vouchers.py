"""Vouchers: booking one (for ledger items and invoices) and ``GET /v2/vouchers``."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.visma.errors import RESOURCE_NOT_FOUND, VismaApiError
from sandbox.visma.jsonio import JsonResponse, utc_now
from sandbox.visma.paging import page_of
from sandbox.visma.records import VOUCHER_PROPERTIES
from sandbox.visma.state import Company

CUSTOMER_INVOICE_DEBIT = 14
CUSTOMER_INVOICE_CREDIT = 15
#: Series letter of sales vouchers (not documented; see ASSUMPTIONS.md).
DEFAULT_NUMBER_SERIES = "V"


def voucher_row(
    company: Company,
    year_id: str,
    *,
    account: int,
    debit: Decimal | None,
    credit: Decimal | None,
    text: str | None = None,
    vat_code_id: str | None = None,
    vat_amount: Decimal | None = None,
) -> dict[str, Any]:
    """A ``VoucherRowApi`` record; the account and VAT code must exist (checked before)."""
    vat = company.vat_codes.get(vat_code_id) if vat_code_id else None
    return {
        "AccountNumber": account,
        "AccountDescription": company.accounts[(year_id, account)]["Name"],
        "DebitAmount": debit or Decimal(0),
        "CreditAmount": credit or Decimal(0),
        "TransactionText": text,
        "CostCenterItemId1": None,
        "CostCenterItemId2": None,
        "CostCenterItemId3": None,
        "VatCodeId": vat_code_id,
        "VatCodeAndPercent": f"{vat['Code']} ({vat['VatRate']}%)" if vat else None,
        "VatAmount": vat_amount,
        "Quantity": None,
        "Weight": None,
        "DeliveryDate": None,
        "HarvestYear": None,
        "ProjectId": None,
    }


def book_voucher(
    company: Company,
    *,
    year_id: str,
    voucher_date: date,
    text: str,
    rows: list[dict[str, Any]],
    voucher_type: int,
    source_id: str | None,
    number_series: str | None = None,
) -> dict[str, Any]:
    series = number_series or DEFAULT_NUMBER_SERIES
    now = utc_now()
    voucher: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "VoucherDate": voucher_date,
        "VoucherText": text,
        "Rows": rows,
        "NumberAndNumberSeries": f"{series}{company.take_voucher_number()}",
        "NumberSeries": series,
        "ImportedVoucherNumber": None,
        "ModifiedUtc": now,
        "VoucherType": voucher_type,
        "SourceId": source_id,
        "CreatedUtc": now,
    }
    company.vouchers[voucher["Id"]] = voucher
    company.voucher_years[voucher["Id"]] = year_id
    return voucher


async def list_vouchers(request: Request, company: Company) -> Response:
    return JsonResponse(page_of(request, company.vouchers.values(), VOUCHER_PROPERTIES))


async def get_voucher(request: Request, company: Company) -> Response:
    year_id = request.path_params["fiscalyearId"].lower()
    voucher_id = request.path_params["voucherId"].lower()
    if company.voucher_years.get(voucher_id) != year_id:
        raise VismaApiError(
            RESOURCE_NOT_FOUND,
            f"Voucher {voucher_id} was not found in fiscal year {year_id}.",
            status=404,
        )
    return JsonResponse(company.vouchers[voucher_id])
