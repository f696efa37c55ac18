"""The default Dutch company: settings, two fiscal years, terms, chart of accounts, VAT codes.

Every id is a UUID-5 of a fixed namespace and a readable name (``fiscal_year_id(2026)``,
``vat_code_id("1a")``), so a data set or a test can refer to them without asking the API.
The account numbers are the ones the Teamleader generator and Koppel's default mappings use.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

NAMESPACE = uuid.UUID("6f2b7c1e-3d4a-5b6c-8d9e-0a1b2c3d4e5f")


def stable_id(kind: str, name: str | int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{name}"))


DEFAULT_COMPANY_ID = stable_id("company", "default")
RECEIVABLES_ACCOUNT = 1300


def fiscal_year_id(year: int) -> str:
    return stable_id("fiscalyear", year)


def vat_code_id(code: str) -> str:
    return stable_id("vatcode", code)


def terms_of_payment_id(name: str) -> str:
    return stable_id("termsofpayment", name)


def article_id(number: str) -> str:
    return stable_id("article", number)


# (number, name, VAT code or None). Both fiscal years carry the same chart.
CHART_OF_ACCOUNTS: tuple[tuple[int, str, str | None], ...] = (
    (1100, "Bank", None),
    (1300, "Debiteuren", None),
    (1510, "Af te dragen BTW hoog", None),
    (1520, "Af te dragen BTW laag", None),
    (1530, "Af te dragen BTW overig", None),
    (8000, "Omzet hoog tarief", "1a"),
    (8010, "Omzet laag tarief", "1b"),
    (8020, "Omzet nultarief/vrijgesteld", "1e"),
    (8030, "Omzet verlegde BTW", "2a"),
    (8040, "Omzet leveringen binnen de EU", "3b"),
    (8050, "Omzet export buiten de EU", "3a"),
    (8100, "Omzet consultancy", None),
    (8200, "Omzet licenties", None),
    (8300, "Omzet opleidingen", None),
    (8400, "Omzet hardware", None),
    (8900, "Overige opbrengsten", None),
    (8990, "Afrondings- en koersverschillen", None),
)

# (first number, last number, Type, TypeDescription): the account types the chart's numbers
# carry, answered as the real API answers them for Dutch companies (ASSUMPTIONS.md, "Accounts").
ACCOUNT_TYPES: tuple[tuple[int, int, int, str], ...] = (
    (1000, 1299, 1, "Liquide middelen"),
    (1300, 1399, 2, "Debiteuren"),
    (1500, 1599, 3, "Omzetbelasting"),
    (8000, 8899, 4, "Omzet"),
    (8900, 8989, 5, "Overige opbrengsten"),
    (8990, 8999, 6, "Financiële baten en lasten"),
)


def account_type(number: int) -> tuple[int, str | None]:
    """(``Type``, ``TypeDescription``) of an account of the default chart (0: untyped)."""
    for first, last, type_number, description in ACCOUNT_TYPES:
        if first <= number <= last:
            return type_number, description
    return 0, None


# (code, description, rate in percent, VAT account or None): the boxes of the Dutch return.
VAT_CODES: tuple[tuple[str, str, int, int | None], ...] = (
    ("1a", "Leveringen/diensten belast met hoog tarief (21%)", 21, 1510),
    ("1b", "Leveringen/diensten belast met laag tarief (9%)", 9, 1520),
    ("1e", "Leveringen/diensten belast met 0% of niet bij u belast", 0, None),
    ("2a", "Leveringen/diensten waarbij de heffing van omzetbelasting naar u is verlegd", 0, None),
    ("3a", "Leveringen naar landen buiten de EU (uitvoer)", 0, None),
    ("3b", "Leveringen naar of diensten in landen binnen de EU (ICP)", 0, None),
)

# (key, Dutch name, English name, days, TermsOfPaymentTypeId, type text)
TERMS_OF_PAYMENT: tuple[tuple[str, str, str, int, int, str], ...] = (
    ("14", "14 dagen", "14 days", 14, 0, "Normal"),
    ("30", "30 dagen", "30 days", 30, 0, "Normal"),
    ("cash", "Contant", "Cash", 0, 2, "Cash"),
    ("end-of-month", "Einde maand", "End of month", 0, 1, "CurrentMonth"),
)

# Articles for POST /customerinvoices: (number, name, VAT code, revenue account).
ARTICLES: tuple[tuple[str, str, str, int], ...] = (
    ("D21", "Diensten 21%", "1a", 8000),
    ("D9", "Diensten 9%", "1b", 8010),
    ("D0", "Diensten 0%", "1e", 8020),
    ("DV", "Diensten verlegd", "2a", 8030),
    ("DEU", "Diensten binnen de EU", "3b", 8040),
    ("DEX", "Export buiten de EU", "3a", 8050),
)


def default_company(today: date) -> dict[str, Any]:
    """The default Dutch company as a Visma data set part (what each GET returns)."""
    years = (today.year - 1, today.year)
    return {
        "companysettings": {
            "Name": "Koppel Demo B.V.",
            "Email": "administratie@koppel-demo.nl",
            "Phone": "020-1234567",
            "Address1": "Keizersgracht 123",
            "CountryCode": "NL",
            "PostalCode": "1015 CJ",
            "City": "Amsterdam",
            "Website": "https://koppel-demo.nl",
            "CurrencyCode": "EUR",
            "TermsOfPaymentId": terms_of_payment_id("30"),
            "CorporateIdentityNumber": "12345678",
            "VatCode": "NL123456782B01",
            "Iban": "NL91ABNA0417164300",
            "NextCustomerNumber": 1,
            "NextCustomerInvoiceNumber": 1,
        },
        "fiscalyears": [
            {
                "Id": fiscal_year_id(year),
                "StartDate": date(year, 1, 1).isoformat(),
                "EndDate": date(year, 12, 31).isoformat(),
                "IsLockedForAccounting": False,
                "BookkeepingMethod": 0,
            }
            for year in years
        ],
        "accounts": [
            {
                "Number": str(number),
                "Name": name,
                "FiscalYearId": fiscal_year_id(year),
                "IsActive": True,
                "VatCodeId": vat_code_id(code) if code else None,
                "Type": account_type(number)[0],
                "TypeDescription": account_type(number)[1],
            }
            for year in years
            for number, name, code in CHART_OF_ACCOUNTS
        ],
        "vatcodes": [
            {
                "Id": vat_code_id(code),
                "Code": code,
                "Description": description,
                "VatRate": rate,
                "OssCodeType": 0,
                "RelatedAccounts": {"AccountNumber1": account},
            }
            for code, description, rate, account in VAT_CODES
        ],
        "termsofpayments": [
            {
                "Id": terms_of_payment_id(key),
                "Name": name,
                "NameEnglish": english,
                "NumberOfDays": days,
                "TermsOfPaymentTypeId": type_id,
                "TermsOfPaymentTypeText": type_text,
                "AvailableForSales": True,
                "AvailableForPurchase": True,
            }
            for key, name, english, days, type_id, type_text in TERMS_OF_PAYMENT
        ],
        "customers": [],
    }
