"""Reference data: accounts, VAT codes, fiscal years, terms of payment, company settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sandbox.visma.errors import RESOURCE_NOT_FOUND, VismaApiError
from sandbox.visma.jsonio import JsonResponse
from sandbox.visma.paging import page_of
from sandbox.visma.schemas import (
    FiscalYearItem,
    TermsOfPaymentItem,
    VatCodeItem,
)
from sandbox.visma.state import Company

ACCOUNT_PROPERTIES = frozenset(
    (
        "Name",
        "Number",
        "VatCodeId",
        "VatCodeDescription",
        "FiscalYearId",
        "ReferenceCode",
        "Type",
        "TypeDescription",
        "ModifiedUtc",
        "CreatedUtc",
        "IsActive",
        "AllowTransactionText",
        "IsFirstCostCenterMandatory",
        "IsProjectAllowed",
        "IsCostCenterAllowed",
        "IsBlockedForManualBooking",
        "Description",
    )
)


def _sorted_accounts(company: Company, year_id: str | None) -> list[dict]:
    keys = sorted(k for k in company.accounts if year_id is None or k[0] == year_id)
    return [company.accounts[k] for k in keys]


async def list_accounts(request: Request, company: Company) -> Response:
    """All accounts of every fiscal year."""
    return JsonResponse(page_of(request, _sorted_accounts(company, None), ACCOUNT_PROPERTIES))


async def list_accounts_of_year(request: Request, company: Company) -> Response:
    year_id = request.path_params["fiscalyearId"].lower()
    if year_id not in company.fiscal_years:
        raise VismaApiError(RESOURCE_NOT_FOUND, f"Fiscal year {year_id} was not found.", status=404)
    return JsonResponse(page_of(request, _sorted_accounts(company, year_id), ACCOUNT_PROPERTIES))


async def list_vat_codes(request: Request, company: Company) -> Response:
    # vatRateDate is accepted; the simulator knows one rate per code (no history).
    return JsonResponse(
        page_of(request, company.vat_codes.values(), VatCodeItem.model_fields.keys())
    )


async def list_fiscal_years(request: Request, company: Company) -> Response:
    years = sorted(company.fiscal_years.values(), key=lambda y: y["StartDate"])
    return JsonResponse(page_of(request, years, FiscalYearItem.model_fields.keys()))


async def list_terms_of_payment(request: Request, company: Company) -> Response:
    return JsonResponse(
        page_of(request, company.terms.values(), TermsOfPaymentItem.model_fields.keys())
    )


async def get_company_settings(request: Request, company: Company) -> Response:
    # AccountingLockedTo is a string in the description, never null: absent when no lock.
    return JsonResponse(
        {k: v for k, v in company.settings.items() if not (k == "AccountingLockedTo" and v is None)}
    )
