"""Typed results (and request bodies) of the Visma eAccounting API v2.

Attribute names are Visma's JSON names (PascalCase), so a model reads like the API
reference. Money is ``Decimal``; dates are ``date``, timestamps ``datetime``. Every model
keeps unknown properties (``extra="allow"``): a field Visma adds later survives a round trip.
Only what Koppel reads is declared; the rest travels along untyped.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _day(value: Any) -> Any:
    """``2026-03-31T00:00:00`` → ``2026-03-31``: a day Visma writes as a date-time."""
    return value[:10] if isinstance(value, str) else value


class VismaModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class PageMeta(VismaModel):
    CurrentPage: int
    PageSize: int
    TotalNumberOfPages: int
    TotalNumberOfResults: int
    ServerTimeUtc: datetime


class TermsOfPayment(VismaModel):
    Id: str | None = None
    Name: str | None = None
    NameEnglish: str | None = None
    NumberOfDays: int | None = None
    TermsOfPaymentTypeId: int | None = None
    TermsOfPaymentTypeText: str | None = None


class Customer(VismaModel):
    """``CustomerApi``: required on write are the six fields without a default."""

    Name: str
    InvoicePostalCode: str
    InvoiceCity: str
    IsPrivatePerson: bool
    IsActive: bool
    TermsOfPaymentId: str
    Id: str | None = None
    CustomerNumber: str | None = None
    CorporateIdentityNumber: str | None = None
    VatNumber: str | None = None
    InvoiceAddress1: str | None = None
    InvoiceAddress2: str | None = None
    InvoiceCountryCode: str | None = None
    EmailAddress: str | None = None
    Telephone: str | None = None
    CurrencyCode: str | None = None
    ContactPersonName: str | None = None
    ChangedUtc: datetime | None = None


class VoucherRow(VismaModel):
    AccountNumber: int
    DebitAmount: Decimal | None = None
    CreditAmount: Decimal | None = None
    TransactionText: str | None = None
    VatCodeId: str | None = None
    VatAmount: Decimal | None = None
    AccountDescription: str | None = None
    VatCodeAndPercent: str | None = None


class Voucher(VismaModel):
    VoucherText: str
    Rows: list[VoucherRow]
    VoucherDate: date | None = None
    Id: str | None = None
    NumberAndNumberSeries: str | None = None
    NumberSeries: str | None = None
    VoucherType: int | None = None
    ModifiedUtc: datetime | None = None
    CreatedUtc: datetime | None = None


class _LedgerItemFields(VismaModel):
    CustomerId: str
    InvoiceNumber: int
    IsCreditInvoice: bool
    CurrencyCode: str
    TotalAmountInvoiceCurrency: Decimal
    RemainingAmountInvoiceCurrency: Decimal
    CurrencyRate: Decimal | None = None
    InvoiceDate: date | None = None
    DueDate: date | None = None
    VATAmountInvoiceCurrency: Decimal | None = None
    RoundingsAmountInvoiceCurrency: Decimal | None = None
    PaymentReferenceNumber: str | None = None
    Id: str | None = None
    ModifiedUtc: datetime | None = None


class CustomerLedgerItem(_LedgerItemFields):
    """``CustomerLedgerItemApi``: an open (or paid) item on a customer's account."""

    VoucherId: str


VoucherBody = Voucher  # the field below is named like its type


class CustomerLedgerItemWithVoucher(_LedgerItemFields):
    """The body of ``POST /customerledgeritems/customerledgeritemswithvoucher``."""

    Voucher: VoucherBody


class VatCodeAccounts(VismaModel):
    """``RelatedAccounts``: where a VAT code books its VAT."""

    AccountNumber1: int | None = None
    AccountNumber2: int | None = None
    AccountNumber3: int | None = None


class VatCode(VismaModel):
    Id: str
    Code: str | None = None
    Description: str | None = None
    VatRate: Decimal
    RelatedAccounts: VatCodeAccounts | None = None


class Account(VismaModel):
    Number: str
    Name: str
    FiscalYearId: str
    IsActive: bool
    VatCodeId: str | None = None
    #: A row on this account needs a first cost centre (which the API cannot set).
    IsFirstCostCenterMandatory: bool = False
    IsCostCenterAllowed: bool = True
    #: The account type; Visma returns types for Dutch companies only.
    Type: int | None = None
    TypeDescription: str | None = None


class FiscalYear(VismaModel):
    Id: str
    StartDate: date
    EndDate: date
    IsLockedForAccounting: bool = False

    def covers(self, day: date) -> bool:
        return self.StartDate <= day <= self.EndDate


class CompanySettings(VismaModel):
    Name: str
    CountryCode: str
    CurrencyCode: str | None = None
    NextCustomerNumber: int | None = None
    NextCustomerInvoiceNumber: int | None = None
    #: The company's default terms, for customers whose own terms have no match.
    TermsOfPaymentId: str | None = None
    #: The last day of the locked accounting period (a date-time in the description).
    AccountingLockedTo: Annotated[date | None, BeforeValidator(_day)] = None
    AccountingLockInterval: int | None = None


class CustomerInvoiceRow(VismaModel):
    ArticleId: str | None = None
    Text: str | None = None
    UnitPrice: Decimal | None = None
    Quantity: Decimal | None = None
    DiscountPercentage: Decimal | None = None
    IsVatFree: bool | None = None
    AmountNoVat: Decimal | None = None


class CustomerInvoice(VismaModel):
    """``CustomerInvoiceApi``; as a request body only the writable fields are set."""

    CustomerId: str
    Rows: list[CustomerInvoiceRow]
    EuThirdParty: bool = False
    RotReducedInvoicingType: int = 0
    IsCreditInvoice: bool | None = None
    InvoiceDate: date | None = None
    DueDate: date | None = None
    YourReference: str | None = None
    OurReference: str | None = None
    Id: str | None = None
    InvoiceNumber: int | None = None
    CurrencyCode: str | None = None
    TotalAmountInvoiceCurrency: Decimal | None = None
    TotalVatAmountInvoiceCurrency: Decimal | None = None
    RemainingAmountInvoiceCurrency: Decimal | None = None
    PaymentStatus: int | None = None
    VoucherId: str | None = None
    ModifiedUtc: datetime | None = None
