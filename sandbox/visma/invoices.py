"""``/v2/customerinvoices`` (a later invoice mode): list, read, and a modest POST.

A POST books the invoice at once, as the real API does: rows name one of the company's
articles (``company.ARTICLES``: the VAT code and revenue account come from the article) or
are text rows; Visma computes the totals (VAT per rate on the rounded row amounts), assigns
the next invoice number, books a voucher (receivables 1300 against revenue and VAT, any
rounding of a foreign currency to 8990) and opens a customer ledger item.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox import clock
from sandbox.visma.company import RECEIVABLES_ACCOUNT
from sandbox.visma.errors import (
    CANNOT_BOOKKEEP,
    FISCAL_YEAR_DOES_NOT_EXIST,
    RESOURCE_NOT_FOUND,
    VismaApiError,
    not_found,
    validation_error,
)
from sandbox.visma.jsonio import JsonResponse, read_json, utc_now
from sandbox.visma.ledger_items import ledger_item_record
from sandbox.visma.odata import query_error
from sandbox.visma.paging import page_of
from sandbox.visma.posting_rules import round2
from sandbox.visma.schemas import CustomerInvoiceIn, InvoiceRowIn
from sandbox.visma.state import Company
from sandbox.visma.validation import parse
from sandbox.visma.vouchers import (
    CUSTOMER_INVOICE_CREDIT,
    CUSTOMER_INVOICE_DEBIT,
    book_voucher,
    voucher_row,
)

ROUNDING_ACCOUNT = 8990


async def list_invoices(request: Request, company: Company) -> Response:
    invoices = list(company.invoices.values())
    since_raw = request.query_params.get("modifiedSinceUtc")
    if since_raw:
        since = _since(since_raw)
        invoices = [i for i in invoices if i["ModifiedUtc"] >= since]
    properties = set(invoices[0]) if invoices else {"ModifiedUtc", "InvoiceNumber", "Id"}
    return JsonResponse(page_of(request, invoices, properties))


async def get_invoice(request: Request, company: Company) -> Response:
    invoice_id = request.path_params["invoiceId"].lower()
    if invoice_id not in company.invoices:
        raise VismaApiError(
            RESOURCE_NOT_FOUND, f"Customer invoice {invoice_id} was not found.", status=404
        )
    return JsonResponse(company.invoices[invoice_id])


def _since(raw: str) -> datetime:
    from datetime import UTC

    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise query_error(f"modifiedSinceUtc '{raw}' is not a date-time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def create_invoice(request: Request, company: Company) -> Response:
    data = parse(CustomerInvoiceIn, await read_json(request))
    customer = company.customers.get(data.CustomerId)
    if customer is None:
        raise not_found("CustomerId", f"Customer with id {data.CustomerId} was not found.")
    terms_id = data.TermsOfPaymentId or customer["TermsOfPaymentId"]
    if terms_id not in company.terms:
        raise not_found("TermsOfPaymentId", f"Terms of payment {terms_id} was not found.")
    currency = (customer["CurrencyCode"] or company.settings["CurrencyCode"]).upper()
    rate = _rate(company, currency, data.CurrencyRate)
    invoice_date = data.InvoiceDate or clock.today()
    year = company.fiscal_year_for(invoice_date)
    if year is None:
        raise VismaApiError(
            FISCAL_YEAR_DOES_NOT_EXIST, f"There is no fiscal year for {invoice_date}."
        )
    if year["IsLockedForAccounting"]:
        raise VismaApiError(CANNOT_BOOKKEEP, "The fiscal year is locked for accounting.")
    rows = [_row(company, index, row) for index, row in enumerate(data.Rows)]
    if not any(r["ArticleId"] for r in rows):
        raise validation_error("Rows", "An invoice needs at least one row with an ArticleId.")
    net_by_code: dict[str | None, Decimal] = defaultdict(Decimal)
    net_by_account: dict[int, Decimal] = defaultdict(Decimal)
    for row, raw in zip(rows, data.Rows, strict=True):
        if row["ArticleId"]:
            article = company.articles[row["ArticleId"]]
            code = None if raw.IsVatFree else article["VatCodeId"]
            net_by_code[code] += row["AmountNoVat"]
            net_by_account[article["AccountNumber"]] += row["AmountNoVat"]
    vat_by_code = {
        code: round2(net * company.vat_codes[code]["VatRate"] / 100) if code else Decimal(0)
        for code, net in net_by_code.items()
    }
    net = sum(net_by_code.values(), Decimal(0))
    vat = sum(vat_by_code.values(), Decimal(0))
    total = net + vat
    if data.IsCreditInvoice != (total < 0) or total == 0:
        raise validation_error(
            "Rows",
            "A credit invoice needs a negative total (negative quantities), an invoice a "
            f"positive one; the total is {total}.",
        )
    invoice_id = str(uuid.uuid4())
    voucher = book_voucher(
        company,
        year_id=year["Id"],
        voucher_date=invoice_date,
        text=f"Factuur {customer['Name']}"[:1000],
        rows=_voucher_rows(company, year["Id"], total, net_by_account, vat_by_code, rate),
        voucher_type=CUSTOMER_INVOICE_CREDIT if data.IsCreditInvoice else CUSTOMER_INVOICE_DEBIT,
        source_id=invoice_id,
    )
    number = _next_invoice_number(company)
    ledger_item_id = str(uuid.uuid4())
    ledger_item = ledger_item_record(
        item_id=ledger_item_id,
        customer=customer,
        company=company,
        invoice_number=number,
        invoice_date=invoice_date,
        due_date=data.DueDate
        or invoice_date + timedelta(days=company.terms[terms_id]["NumberOfDays"]),
        currency_code=currency,
        currency_rate=rate,
        currency_rate_unit=1,
        is_credit=data.IsCreditInvoice,
        total=total,
        vat=vat,
        roundings=Decimal(0),
        payment_reference=None,
        voucher_id=voucher["Id"],
    )
    company.ledger_items[ledger_item_id] = ledger_item
    company.invoice_of_ledger_item[ledger_item_id] = invoice_id
    now = utc_now()
    invoice = {
        "Id": invoice_id,
        "EuThirdParty": data.EuThirdParty,
        "IsCreditInvoice": data.IsCreditInvoice,
        "CurrencyCode": currency,
        "CurrencyRate": rate,
        "CreatedByUserId": None,
        "TotalAmount": round2(total * rate),
        "TotalVatAmount": round2(vat * rate),
        "TotalRoundings": Decimal(0),
        "TotalAmountInvoiceCurrency": total,
        "TotalVatAmountInvoiceCurrency": vat,
        "SetOffAmountInvoiceCurrency": Decimal(0),
        "CustomerId": customer["Id"],
        "Rows": rows,
        "VatSpecification": [
            {
                "AmountInvoiceCurrency": net_by_code[code],
                "VatAmountInvoiceCurrency": amount,
                "VatPercent": company.vat_codes[code]["VatRate"] if code else Decimal(0),
            }
            for code, amount in vat_by_code.items()
        ],
        "InvoiceDate": invoice_date,
        "DueDate": ledger_item["DueDate"],
        "DeliveryDate": data.DeliveryDate,
        "RotReducedInvoicingType": data.RotReducedInvoicingType,
        "OurReference": data.OurReference,
        "YourReference": data.YourReference,
        "BuyersOrderReference": data.BuyersOrderReference,
        "InvoiceCustomerName": customer["Name"],
        "InvoiceAddress1": data.InvoiceAddress1 or customer["InvoiceAddress1"],
        "InvoiceAddress2": data.InvoiceAddress2 or customer["InvoiceAddress2"],
        "InvoicePostalCode": data.InvoicePostalCode or customer["InvoicePostalCode"],
        "InvoiceCity": data.InvoiceCity or customer["InvoiceCity"],
        "InvoiceCountryCode": data.InvoiceCountryCode or customer["InvoiceCountryCode"],
        "CustomerIsPrivatePerson": customer["IsPrivatePerson"],
        "TermsOfPaymentId": terms_id,
        "CustomerEmail": customer["EmailAddress"],
        "InvoiceNumber": number,
        "CustomerNumber": customer["CustomerNumber"],
        "CustomerName": customer["Name"],
        "PaymentReferenceNumber": None,
        "HasAutoInvoiceError": False,
        "IsNotDelivered": False,
        "RemainingAmount": round2(total * rate),
        "RemainingAmountInvoiceCurrency": total,
        "ReferringInvoiceId": None,
        "VoucherNumber": voucher["NumberAndNumberSeries"],
        "VoucherId": voucher["Id"],
        "CreatedUtc": now,
        "ModifiedUtc": now,
        "IncludesVat": False,
        "PaymentReminderIssued": False,
        "PaymentRemindersCount": 0,
        "IsSold": False,
        "FactoringInvoiceStatus": 0,
        "PaymentDate": None,
        "PaymentStatus": 1,
        "CreditedBy": [],
        "IsQuickInvoice": False,
        "IsCollectiveInvoice": False,
    }
    company.invoices[invoice_id] = invoice
    return JsonResponse(invoice, status_code=201)


def _rate(company: Company, currency: str, given: Decimal | None) -> Decimal:
    if currency == company.settings["CurrencyCode"].upper():
        return Decimal(1)
    if given is None or given <= 0:
        raise validation_error(
            "CurrencyRate",
            f"The simulator has no exchange rates: give CurrencyRate for {currency}.",
        )
    return given


def _row(company: Company, index: int, row: InvoiceRowIn) -> dict[str, Any]:
    where = f"Rows[{index}]"
    article = company.articles.get(row.ArticleId) if row.ArticleId else None
    if row.ArticleId and article is None:
        raise not_found(f"{where}.ArticleId", f"Article {row.ArticleId} was not found.")
    if article is None and not row.Text:
        raise validation_error(f"{where}.Text", "A text row needs a Text.", "Required")
    amount = (
        round2(row.UnitPrice * row.Quantity * (1 - row.DiscountPercentage))
        if article
        else Decimal(0)
    )
    vat_rate = (
        company.vat_codes[article["VatCodeId"]]["VatRate"]
        if article and not row.IsVatFree
        else Decimal(0)
    )
    return {
        "Id": str(uuid.uuid4()),
        "LineNumber": index,
        "ArticleId": row.ArticleId,
        "ArticleNumber": article["Number"] if article else None,
        "IsServiceArticle": bool(article),
        "IsTextRow": article is None,
        "Text": row.Text or (article["Name"] if article else None),
        "UnitPrice": row.UnitPrice if article else Decimal(0),
        "DiscountPercentage": row.DiscountPercentage,
        "Quantity": row.Quantity if article else Decimal(0),
        "IsVatFree": row.IsVatFree,
        "AmountNoVat": amount,
        "VatRate": Decimal(vat_rate) / 100,
        "IsWorkCost": False,
        "IsDiscountInFixedAmount": False,
        "WorkCostType": 0,
    }


def _voucher_rows(
    company: Company,
    year_id: str,
    total: Decimal,
    net_by_account: dict[int, Decimal],
    vat_by_code: dict[str | None, Decimal],
    rate: Decimal,
) -> list[dict[str, Any]]:
    """Signed amounts in the company currency (+ debit, − credit), rounding to 8990."""
    signed: list[tuple[int, Decimal, str | None]] = [
        (RECEIVABLES_ACCOUNT, round2(total * rate), None)
    ]
    signed += [(account, -round2(net * rate), None) for account, net in net_by_account.items()]
    for code, amount in vat_by_code.items():
        account = company.vat_codes[code]["RelatedAccounts"]["AccountNumber1"] if code else None
        if account and amount:
            signed.append((account, -round2(amount * rate), code))
    difference = sum((amount for _, amount, _ in signed), Decimal(0))
    if difference:
        signed.append((ROUNDING_ACCOUNT, -difference, None))
    return [
        voucher_row(
            company,
            year_id,
            account=account,
            debit=amount if amount > 0 else None,
            credit=-amount if amount < 0 else None,
            vat_code_id=code,
        )
        for account, amount, code in signed
        if amount
    ]


def _next_invoice_number(company: Company) -> int:
    taken = {li["InvoiceNumber"] for li in company.ledger_items.values()}
    number = company.settings["NextCustomerInvoiceNumber"]
    while number in taken:
        number += 1
    company.settings["NextCustomerInvoiceNumber"] = number + 1
    return number
