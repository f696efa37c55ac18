"""The reversing credit of a posting whose Teamleader document was deleted: pure.

Made from what Visma holds (the ledger item and its voucher), since Teamleader no longer
has the document: the same customer, currency and amounts with the opposite sign, every
voucher row's debit and credit swapped, dated ``day`` (docs/architecture.md#deletions).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from clients.visma.models import (
    CustomerLedgerItem,
    CustomerLedgerItemWithVoucher,
    Voucher,
    VoucherRow,
)

#: The reversal of Visma number N is N with this digit after it (the reuse of a deleted
#: document's number takes 1 to 8: consumers/postings.py).
REVERSAL_SUFFIX = 9


def reversal_number(visma_number: int) -> int:
    return visma_number * 10 + REVERSAL_SUFFIX


def reversing_posting(
    item: CustomerLedgerItem, voucher: Voucher, day: date, text: str
) -> CustomerLedgerItemWithVoucher:
    total = -item.TotalAmountInvoiceCurrency
    rows = [
        VoucherRow(
            AccountNumber=row.AccountNumber,
            DebitAmount=_side(row.CreditAmount),
            CreditAmount=_side(row.DebitAmount),
            TransactionText=row.TransactionText,
            VatCodeId=row.VatCodeId,
        )
        for row in voucher.Rows
    ]
    vat = item.VATAmountInvoiceCurrency
    return CustomerLedgerItemWithVoucher(
        CustomerId=item.CustomerId,
        InvoiceNumber=reversal_number(item.InvoiceNumber),
        IsCreditInvoice=total < 0,
        CurrencyCode=item.CurrencyCode,
        CurrencyRate=item.CurrencyRate,
        TotalAmountInvoiceCurrency=total,
        RemainingAmountInvoiceCurrency=total,
        VATAmountInvoiceCurrency=-vat if vat is not None else None,
        InvoiceDate=day,
        DueDate=day,
        Voucher=Voucher(VoucherDate=day, VoucherText=text[:250], Rows=rows),
    )


def _side(amount: Decimal | None) -> Decimal | None:
    """One side of a row: a zero the GET answered with is no amount."""
    return amount if amount else None
