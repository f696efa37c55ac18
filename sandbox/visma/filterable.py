"""The properties ``$filter`` accepts, per list endpoint; any other is refused with 6000.

Visma documents filtering on selected properties only (developer.vismaonline.com
/docs/filtering-copy; docs/api-facts.md, Visma §2.7): identifiers, numbers, dates and
timestamps. Free text other than names, nested objects and amounts are left out here, so a
client that filters on them learns it from the simulator rather than from Visma.
"""

from __future__ import annotations

FILTERABLE: dict[str, list[str]] = {
    "/v2/customers": [
        "Id",
        "CustomerNumber",
        "CorporateIdentityNumber",
        "VatNumber",
        "Name",
        "EmailAddress",
        "IsActive",
        "ChangedUtc",
        "Note",
    ],
    "/v2/customerledgeritems": [
        "Id",
        "CustomerId",
        "InvoiceNumber",
        "InvoiceDate",
        "DueDate",
        "IsCreditInvoice",
        "CurrencyCode",
        "VoucherId",
        "ModifiedUtc",
        "RemainingAmountInvoiceCurrency",
        "TotalAmountInvoiceCurrency",
    ],
    "/v2/vouchers": ["Id", "VoucherDate", "VoucherType", "NumberSeries", "SourceId", "ModifiedUtc"],
    "/v2/customerinvoices": [
        "Id",
        "CustomerId",
        "InvoiceNumber",
        "InvoiceDate",
        "DueDate",
        "IsCreditInvoice",
        "ModifiedUtc",
        "RemainingAmount",
        "TotalAmount",
        "HasAutoInvoiceError",
    ],
    "/v2/accounts": ["Number", "Name", "FiscalYearId", "IsActive", "Type", "ModifiedUtc"],
    "/v2/accounts/{id}": ["Number", "Name", "FiscalYearId", "IsActive", "Type", "ModifiedUtc"],
    "/v2/vatcodes": ["Id", "Code", "Description", "VatRate"],
    "/v2/fiscalyears": ["Id", "StartDate", "EndDate", "IsLockedForAccounting"],
    "/v2/termsofpayments": ["Id", "Name", "NumberOfDays", "TermsOfPaymentTypeId"],
}
