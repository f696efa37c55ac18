"""``/v2/customers``: list, read, create (201) and replace.

Create and replace check, in order: the fields (2000), ``TermsOfPaymentId`` exists (3000),
the VAT number (4025, see ``vat_numbers``; then VIES: 5001 when it is down, 4025 for a
number it does not know), ``CustomerNumber`` is free (4000). A missing
``CustomerNumber`` is taken from the company's ``NextCustomerNumber``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.visma.errors import (
    CANT_REACH_SYSTEM_DEPENDENCY,
    CONFLICT,
    EXTERNAL_SERVICE_VALIDATION,
    INVALID_VAT_NUMBER,
    RESOURCE_NOT_FOUND,
    FieldError,
    VismaApiError,
    not_found,
)
from sandbox.visma.jsonio import JsonResponse, read_json, utc_now
from sandbox.visma.paging import page_of
from sandbox.visma.records import CUSTOMER_PROPERTIES, customer_record
from sandbox.visma.schemas import CustomerIn
from sandbox.visma.state import Company
from sandbox.visma.validation import parse
from sandbox.visma.vat_numbers import EU_FORMATS, vat_number_problem


async def list_customers(request: Request, company: Company) -> Response:
    return JsonResponse(page_of(request, company.customers.values(), CUSTOMER_PROPERTIES))


async def get_customer(request: Request, company: Company) -> Response:
    return JsonResponse(_existing(company, request.path_params["customerId"]))


async def create_customer(request: Request, company: Company) -> Response:
    data = parse(CustomerIn, await read_json(request))
    terms = _check(company, data, customer_id=None)
    number = data.CustomerNumber or company.next_customer_number()
    customer_id = str(uuid.uuid4())
    record = customer_record(
        data, customer_id=customer_id, number=number, changed=utc_now(), terms=terms
    )
    company.customers[customer_id] = record
    return JsonResponse(record, status_code=201)


async def update_customer(request: Request, company: Company) -> Response:
    existing = _existing(company, request.path_params["customerId"])
    data = parse(CustomerIn, await read_json(request))
    terms = _check(company, data, customer_id=existing["Id"])
    record = customer_record(
        data,
        customer_id=existing["Id"],
        number=data.CustomerNumber or existing["CustomerNumber"],
        changed=utc_now(),
        terms=terms,
    )
    company.customers[existing["Id"]] = record
    return JsonResponse(record)


def _existing(company: Company, customer_id: str) -> dict[str, Any]:
    record = company.customers.get(customer_id.lower())
    if record is None:
        raise VismaApiError(
            RESOURCE_NOT_FOUND, f"Customer with id {customer_id} was not found.", status=404
        )
    return record


def _check_vat_number(company: Company, vat_number: str) -> None:
    """Offline checks first (4025), then VIES: unreachable → 5001, not registered → 4025."""
    if problem := vat_number_problem(vat_number):
        _invalid_vat_number(f"The VAT number {vat_number} is invalid: {problem}.")
    if vat_number[:2].upper() not in EU_FORMATS and vat_number[:2].upper() != "XI":
        return  # VIES knows EU numbers only
    if company.vies_down:
        external = company.vies_down_code == EXTERNAL_SERVICE_VALIDATION
        raise VismaApiError(
            EXTERNAL_SERVICE_VALIDATION if external else CANT_REACH_SYSTEM_DEPENDENCY,
            "VIES could not be reached to validate the VAT number; try again later.",
            status=400 if external else 503,
        )
    if _compact(vat_number) in company.vies_unregistered:
        _invalid_vat_number(f"The VAT number {vat_number} is not registered in VIES.")


def _compact(vat_number: str) -> str:
    return "".join(vat_number.split()).upper()


def _invalid_vat_number(message: str) -> None:
    raise VismaApiError(
        INVALID_VAT_NUMBER,
        message,
        errors=[FieldError("VatNumber", message, "InvalidVatNumber", str(INVALID_VAT_NUMBER))],
    )


def _check(company: Company, data: CustomerIn, customer_id: str | None) -> dict[str, Any]:
    terms = company.terms.get(data.TermsOfPaymentId)
    if terms is None:
        raise not_found(
            "TermsOfPaymentId", f"Terms of payment {data.TermsOfPaymentId} was not found."
        )
    if data.VatNumber:
        _check_vat_number(company, data.VatNumber)
    if data.CustomerNumber:
        for other in company.customers.values():
            if other["CustomerNumber"] == data.CustomerNumber and other["Id"] != customer_id:
                raise VismaApiError(
                    CONFLICT,
                    f"A customer with customer number {data.CustomerNumber} already exists.",
                    errors=[
                        FieldError(
                            "CustomerNumber", "Duplicate customer number.", "Conflict", "4000"
                        )
                    ],
                )
    return terms
