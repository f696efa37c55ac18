"""The stored form of each resource: exactly the properties its GET returns.

Records are plain dicts with Visma's property names; money is ``Decimal``, dates ``date``,
timestamps ``datetime`` (``jsonio`` prints them). The description marks most schemas
``additionalProperties: false``, so a record never carries a property it does not list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.visma.schemas import AccountItem, CustomerIn


def customer_record(
    data: CustomerIn,
    *,
    customer_id: str,
    number: str,
    changed: datetime,
    terms: dict[str, Any],
) -> dict[str, Any]:
    record = data.model_dump()
    record.update(
        Id=customer_id,
        CustomerNumber=number,
        ChangedUtc=changed,
        TermsOfPayment=dict(terms),
        PayToAccountId=None,
        LastInvoiceDate=None,
        IsFutureInvoiceDateAllowed=False,
        UnpaidInvoicesAmount=0,
        CustomerLabels=[],
        MessageThreads=[],
        Notes=[],
        AutoInvoiceActivationEmailSentDate=None,
        AutoInvoiceRegistrationRequestSentDate=None,
    )
    return record


def account_record(
    item: AccountItem, *, vat_description: str | None, created: datetime
) -> dict[str, Any]:
    return {
        "Name": item.Name,
        "Number": item.Number,
        "VatCodeId": item.VatCodeId,
        "VatCodeDescription": vat_description,
        "FiscalYearId": item.FiscalYearId,
        "ReferenceCode": None,
        "Type": item.Type,
        "TypeDescription": item.TypeDescription,
        "ModifiedUtc": created,
        "CreatedUtc": created,
        "IsActive": item.IsActive,
        "AllowTransactionText": True,
        "IsFirstCostCenterMandatory": item.IsFirstCostCenterMandatory,
        "IsProjectAllowed": True,
        "IsCostCenterAllowed": item.IsCostCenterAllowed,
        "IsBlockedForManualBooking": False,
        "Description": None,
    }


CUSTOMER_READ_ONLY = (
    "Id",
    "ChangedUtc",
    "TermsOfPayment",
    "PayToAccountId",
    "LastInvoiceDate",
    "IsFutureInvoiceDateAllowed",
    "UnpaidInvoicesAmount",
    "CustomerLabels",
    "MessageThreads",
    "Notes",
    "AutoInvoiceActivationEmailSentDate",
    "AutoInvoiceRegistrationRequestSentDate",
)
CUSTOMER_PROPERTIES = frozenset(CustomerIn.model_fields) | frozenset(CUSTOMER_READ_ONLY)

LEDGER_ITEM_PROPERTIES = frozenset(
    (
        "CurrencyCode",
        "CurrencyRate",
        "CurrencyRateUnit",
        "CustomerId",
        "DueDate",
        "Id",
        "InvoiceDate",
        "InvoiceNumber",
        "IsCreditInvoice",
        "ModifiedUtc",
        "PaymentReferenceNumber",
        "RemainingAmountInvoiceCurrency",
        "RoundingsAmountInvoiceCurrency",
        "TotalAmountInvoiceCurrency",
        "VATAmountInvoiceCurrency",
        "VoucherId",
    )
)
VOUCHER_PROPERTIES = frozenset(
    (
        "Id",
        "VoucherDate",
        "VoucherText",
        "Rows",
        "NumberAndNumberSeries",
        "NumberSeries",
        "ImportedVoucherNumber",
        "ModifiedUtc",
        "VoucherType",
        "SourceId",
        "CreatedUtc",
    )
)
