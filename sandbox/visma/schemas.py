"""Typed shapes of what the simulator accepts: request bodies and data set items.

Field names are Visma's (PascalCase). Maximum lengths are the ``maxLength`` values of the
official description (``CustomerApi``, ``VoucherApi``, …); ``tests/visma/test_validation.py``
checks them against the description's subset in ``tests/api_schemas/`` so they cannot drift.
Read-only properties a client sends back (``Id``, ``ChangedUtc``, …) are ignored, as the real
API ignores them.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T[0-9:.]*(Z|[+-]\d{2}:?\d{2})?)?$")


def _uuid_text(value: str) -> str:
    return str(uuid.UUID(value))


def _visma_date(value: Any) -> Any:
    """Visma documents dates as ``yyyy-MM-dd`` under ``format: date-time``: take either."""
    if isinstance(value, str):
        match = _DATE.match(value)
        if not match:
            raise ValueError("expected a date as yyyy-MM-dd")
        return date.fromisoformat(match.group(1))
    return value


UuidText = Annotated[str, AfterValidator(_uuid_text)]
VismaDate = Annotated[date, BeforeValidator(_visma_date)]


def text(max_length: int) -> Any:
    return Field(default=None, max_length=max_length)


class _Loose(BaseModel):
    """Unknown and read-only properties are ignored, as the real API does."""

    model_config = ConfigDict(extra="ignore", strict=False)


# -- customers ---------------------------------------------------------------------------
class CustomerIn(_Loose):
    """The writable part of ``CustomerApi`` (POST and PUT /customers)."""

    Name: str = Field(max_length=50)
    InvoicePostalCode: str = Field(max_length=10)
    InvoiceCity: str = Field(max_length=50)
    IsPrivatePerson: StrictBool
    IsActive: StrictBool
    TermsOfPaymentId: UuidText
    CustomerNumber: str | None = text(16)
    CorporateIdentityNumber: str | None = text(20)
    ContactPersonEmail: str | None = text(255)
    ContactPersonMobile: str | None = text(50)
    ContactPersonName: str | None = text(100)
    ContactPersonPhone: str | None = text(50)
    CurrencyCode: str | None = text(3)
    EmailAddress: str | None = text(255)
    EmailAddressOrder: str | None = text(255)
    EmailAddressQuote: str | None = text(255)
    GLN: str | None = text(255)
    InvoiceAddress1: str | None = text(50)
    InvoiceAddress2: str | None = text(50)
    InvoiceCountryCode: str | None = text(2)
    DeliveryAddress1: str | None = text(50)
    DeliveryAddress2: str | None = text(50)
    DeliveryCity: str | None = text(50)
    DeliveryCountryCode: str | None = text(2)
    DeliveryPostalCode: str | None = text(10)
    DeliveryCustomerName: str | None = text(100)
    DeliveryMethodId: UuidText | None = None
    DeliveryTermId: UuidText | None = None
    Note: str | None = text(4000)
    ReverseChargeOnConstructionServices: StrictBool = False
    WebshopCustomerNumber: StrictInt | None = None
    MobilePhone: str | None = text(50)
    Telephone: str | None = text(50)
    VatNumber: str | None = text(20)
    WwwAddress: str | None = text(255)
    IsNorthernIreland: StrictBool | None = None
    DiscountPercentage: Decimal = Field(default=Decimal(0), ge=0, le=1)
    ForceBookkeepVat: StrictBool = False
    EdiGlnNumber: str | None = text(255)
    SalesDocumentLanguage: str | None = text(2)
    ElectronicAddress: str | None = text(255)
    ElectronicReference: str | None = text(35)
    EdiServiceDelivererId: str | None = text(255)
    EmailAddresses: list[str] | None = None
    DeliveryBasedVat: StrictBool = False
    SalesPriceListId: UuidText | None = None
    Iban: str | None = text(35)
    IsDirectDebitEnabled: StrictBool | None = None
    DiscountAgreementId: UuidText | None = None
    PropertyReference: str | None = text(40)
    PropertyType: StrictInt | None = Field(default=None, ge=1, le=2)
    TaxDeductionNumber: str | None = None


class CustomerItem(CustomerIn):
    """A data set customer: what GET /customers/{id} returns (Id optional)."""

    Id: UuidText | None = None


# -- customer ledger items with voucher ---------------------------------------------------
class VoucherRowIn(_Loose):
    AccountNumber: StrictInt = Field(ge=1, le=9_999_999_999)
    #: Read-only in the description (VoucherRowApi); taken when sent, as a lenient API would.
    CostCenterItemId1: UuidText | None = None
    DebitAmount: Decimal | None = Field(default=None, ge=0, le=10_000_000_000)
    CreditAmount: Decimal | None = Field(default=None, ge=0, le=10_000_000_000)
    TransactionText: str | None = text(60)
    CostCenterItemId2: UuidText | None = None
    CostCenterItemId3: UuidText | None = None
    VatCodeId: UuidText | None = None
    VatAmount: Decimal | None = None
    Quantity: Decimal | None = None
    Weight: Decimal | None = None
    DeliveryDate: VismaDate | None = None
    HarvestYear: StrictInt | None = None
    ProjectId: UuidText | None = None


class VoucherIn(_Loose):
    VoucherDate: VismaDate | None = None
    VoucherText: str = Field(max_length=1000)
    Rows: list[VoucherRowIn]
    NumberSeries: str | None = None
    VoucherType: StrictInt | None = None


class LedgerItemWithVoucherIn(_Loose):
    """``CustomerLedgerItemWithVoucherApi``."""

    CurrencyCode: str = Field(max_length=3)
    CurrencyRate: Decimal | None = None
    CurrencyRateUnit: StrictInt | None = None
    CustomerId: UuidText
    DueDate: VismaDate | None = None
    InvoiceDate: VismaDate | None = None
    InvoiceNumber: StrictInt = Field(ge=-(2**31), le=2**31 - 1)
    IsCreditInvoice: StrictBool
    PaymentReferenceNumber: str | None = text(50)
    RemainingAmountInvoiceCurrency: Decimal = Field(
        ge=Decimal("-99999999.99"), le=Decimal("99999999.99")
    )
    RoundingsAmountInvoiceCurrency: Decimal | None = None
    TotalAmountInvoiceCurrency: Decimal = Field(
        ge=Decimal("-99999999.99"), le=Decimal("99999999.99")
    )
    VATAmountInvoiceCurrency: Decimal | None = None
    Voucher: VoucherIn


# -- customer invoices --------------------------------------------------------------------
class InvoiceRowIn(_Loose):
    ArticleId: UuidText | None = None
    Text: str | None = text(2000)
    UnitPrice: Decimal = Decimal(0)
    Quantity: Decimal = Decimal(0)
    DiscountPercentage: Decimal = Field(default=Decimal(0), ge=0, le=1)
    IsVatFree: StrictBool = False


class CustomerInvoiceIn(_Loose):
    """The writable part of ``CustomerInvoiceApi`` this simulator understands."""

    CustomerId: UuidText
    Rows: list[InvoiceRowIn]
    EuThirdParty: StrictBool
    RotReducedInvoicingType: StrictInt = Field(ge=0, le=2)
    IsCreditInvoice: StrictBool = False
    CurrencyRate: Decimal | None = None
    InvoiceDate: VismaDate | None = None
    DueDate: VismaDate | None = None
    DeliveryDate: VismaDate | None = None
    TermsOfPaymentId: UuidText | None = None
    OurReference: str | None = text(100)
    YourReference: str | None = text(100)
    BuyersOrderReference: str | None = text(35)
    InvoiceAddress1: str | None = text(50)
    InvoiceAddress2: str | None = text(50)
    InvoicePostalCode: str | None = text(50)
    InvoiceCity: str | None = text(50)
    InvoiceCountryCode: str | None = text(2)


# -- reference data (data set items, shaped as their GET returns them) ---------------------
class CompanySettingsItem(_Loose):
    Name: str = Field(max_length=100)
    Email: str | None = text(255)
    Phone: str | None = text(20)
    MobilePhone: str | None = text(20)
    Address1: str = Field(max_length=40)
    Address2: str | None = text(40)
    CountryCode: str = Field(max_length=2)
    PostalCode: str = Field(max_length=10)
    City: str = Field(max_length=40)
    Website: str | None = text(255)
    OurReference: str | None = text(100)
    CurrencyCode: str = "EUR"
    TermsOfPaymentId: UuidText
    CorporateIdentityNumber: str | None = None
    VatCode: str | None = None
    BankAccount: str | None = None
    Iban: str | None = None
    AccountNumberDigits: StrictInt = 4
    NextCustomerNumber: StrictInt = 1
    NextSupplierNumber: StrictInt = 1
    NextCustomerInvoiceNumber: StrictInt = 1
    NextQuoteNumber: StrictInt = 1
    NextOrderNumber: StrictInt = 1
    ShowPricesExclVatPC: StrictBool = True
    UsesPaymentReferenceNumber: StrictBool = False
    DomesticCurrencyRounding: StrictInt = 0
    ProductVariant: StrictInt | None = 5
    TypeOfBusiness: StrictInt = 1
    VatPeriod: StrictInt = 2
    CompanyStatus: StrictInt = 1
    CompanyIdentifier: str | None = None
    UsesCostCenter: StrictBool = False
    #: The accounting lock (PUT /companysettings/accountinglocksettings): the last day of
    #: the locked period, or None for no lock.
    AccountingLockedTo: VismaDate | None = None
    AccountingLockInterval: StrictInt = Field(default=0, ge=0, le=4)
    UsesProject: StrictBool = False
    UsesMoss: StrictBool = False
    UsesReverseConstructionVat: StrictBool = False


class FiscalYearItem(_Loose):
    Id: UuidText
    StartDate: VismaDate
    EndDate: VismaDate
    IsLockedForAccounting: StrictBool = False
    BookkeepingMethod: StrictInt = Field(default=0, ge=0, le=2)


class AccountItem(_Loose):
    Number: str = Field(min_length=1, pattern=r"^\d{1,10}$")
    Name: str = Field(max_length=100)
    FiscalYearId: UuidText
    IsActive: StrictBool = True
    VatCodeId: UuidText | None = None
    Type: StrictInt = 0
    TypeDescription: str | None = None
    IsFirstCostCenterMandatory: StrictBool = False
    IsCostCenterAllowed: StrictBool = True


class RelatedAccountsItem(_Loose):
    AccountNumber1: StrictInt | None = None
    AccountNumber2: StrictInt | None = None
    AccountNumber3: StrictInt | None = None


class VatCodeItem(_Loose):
    Id: UuidText
    Code: str
    Description: str | None = None
    VatRate: Decimal = Field(ge=0, le=100)
    OssCodeType: StrictInt = 0
    RelatedAccounts: RelatedAccountsItem = Field(default_factory=RelatedAccountsItem)


class TermsOfPaymentItem(_Loose):
    Id: UuidText
    Name: str
    NameEnglish: str | None = None
    NumberOfDays: StrictInt = Field(ge=0)
    TermsOfPaymentTypeId: StrictInt = Field(default=0, ge=0, le=5)
    TermsOfPaymentTypeText: str | None = None
    AvailableForSales: StrictBool = True
    AvailableForPurchase: StrictBool = True
