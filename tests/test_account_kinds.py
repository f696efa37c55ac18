"""Which Visma accounts can carry revenue (``ops/mappings/account_kinds.py``), and the pre-flight
problems of mappings Visma would accept but that book wrong (``ops/mappings/preflight.py``), on
plain data."""

from __future__ import annotations

from decimal import Decimal

from clients.teamleader.models import ProductCategory, TaxRate
from clients.visma.models import Account, VatCode
from ops.mappings.account_kinds import (
    BANK,
    PAYABLES,
    PROFIT_AND_LOSS,
    RECEIVABLES,
    REVENUE,
    VAT,
    Chart,
    Kind,
)
from ops.mappings.preflight import NOT_REVENUE_ACCOUNT, VAT_RATE_MISMATCH, problems
from ops.mappings.proposal import propose
from store.mappings import VatRow

DEPARTMENT = "department-1"


def account(
    number: int, name: str, type_description: str | None = None, **extra: object
) -> Account:
    return Account(
        Number=str(number),
        Name=name,
        FiscalYearId="year-1",
        IsActive=True,
        TypeDescription=type_description,
        **extra,
    )


def code(code_id: str, rate: int, vat_account: int | None = None) -> VatCode:
    return VatCode.model_validate(
        {
            "Id": code_id,
            "Code": code_id,
            "VatRate": rate,
            "RelatedAccounts": {"AccountNumber1": vat_account},
        }
    )


def kind_of(chart: Chart, number: int) -> Kind:
    finding = chart.finding(number)
    assert finding is not None, number
    return finding.kind


#: A Swedish BAS chart as Visma answers for a Swedish company: no account types.
SWEDISH = [
    account(1510, "Kundfordringar"),
    account(1930, "Företagskonto"),
    account(2440, "Leverantörsskulder"),
    account(2611, "Utgående moms 25 %"),
    account(3001, "Försäljning inom Sverige, 25 % moms"),
    account(3002, "Försäljning inom Sverige, 12 % moms"),
    account(4010, "Inköp material och varor"),
]


def test_without_account_types_the_swedish_chart_tells_the_kind_by_number() -> None:
    chart = Chart(SWEDISH, "SE")
    kinds = {n: kind_of(chart, n) for n in (1510, 1930, 2440, 2611, 3001, 4010)}
    assert kinds == {
        1510: RECEIVABLES,
        1930: BANK,
        2440: PAYABLES,
        2611: VAT,
        3001: REVENUE,
        4010: PROFIT_AND_LOSS,
    }
    refusal = chart.revenue_refusal(1510)
    assert refusal == (
        "1510 Kundfordringar is a receivables account (the Swedish BAS chart, group 15), not a "
        "revenue account; revenue accounts of this chart: 3001 Försäljning inom Sverige, 25 % "
        "moms, 3002 Försäljning inom Sverige, 12 % moms."
    )
    # A cost account is no balance-sheet account: not refused
    assert chart.revenue_refusal(4010) is None


def test_a_dutch_type_outweighs_the_number_and_omzetbelasting_is_vat_not_revenue() -> None:
    chart = Chart(
        [
            account(1300, "Debiteuren", "Debiteuren"),
            account(1500, "Te betalen", "Omzetbelasting"),
            account(8000, "Omzet", "Omzet"),
            account(8500, "Kostprijs", "Kostprijs van de omzet"),
            account(1800, "Tussenrekening", "Overige opbrengsten"),
        ],
        "NL",
    )
    assert kind_of(chart, 1300) == RECEIVABLES
    assert kind_of(chart, 1500) == VAT
    assert kind_of(chart, 8500) == PROFIT_AND_LOSS
    # The type says revenue where the Dutch chart's class 1 would say balance sheet
    assert chart.revenue_refusal(1800) is None
    assert chart.revenue_refusal(8000) is None


def test_how_visma_and_the_connection_use_an_account_tell_its_kind_in_any_chart() -> None:
    # Given a country Koppel knows no standard chart of, and accounts without types
    accounts = [account(100, "Cash"), account(200, "Customers"), account(400, "Sales tax")]
    chart = Chart(accounts, "FI", [code("vat-24", 24, 400)], receivables_account=200)
    # Then the receivables account and a VAT code's account are refused, the rest not judged
    assert "200 Customers is a receivables account" in (chart.revenue_refusal(200) or "")
    assert "400 Sales tax is a VAT account (a Visma VAT code" in (chart.revenue_refusal(400) or "")
    assert chart.finding(100) is None
    assert chart.revenue_refusal(100) is None


def test_preflight_names_a_vat_code_of_another_rate_and_revenue_on_the_balance_sheet() -> None:
    nine = TaxRate(id="rate-9", description="9%", rate=Decimal("0.09"))
    twenty_one = TaxRate(id="rate-21", description="21%", rate=Decimal("0.21"))
    chart = [
        account(1100, "Bank", "Liquide middelen"),
        account(1300, "Debiteuren", "Debiteuren"),
        account(1510, "BTW hoog", "Omzetbelasting"),
        account(1520, "BTW laag", "Omzetbelasting"),
        account(8000, "Omzet hoog", "Omzet", VatCodeId="1a"),
        account(8010, "Omzet laag", "Omzet", VatCodeId="1b"),
    ]
    category = ProductCategory.model_validate(
        {
            "id": "hardware",
            "name": "Hardware",
            "ledgers": [
                {
                    "department": {"type": "department", "id": DEPARTMENT},
                    "ledger_account_number": "1100",
                }
            ],
        }
    )
    found = problems(
        connection_name="test",
        department_id=DEPARTMENT,
        tax_rates=[nine, twenty_one],
        categories=[category],
        vat_rows=[
            VatRow("rate-9", Decimal("0.09"), "9%", "1a", "1a", 8010),
            VatRow("rate-21", Decimal("0.21"), "21%", "1a", "1a", 1300),
        ],
        vat_codes=[code("1a", 21, 1510), code("1b", 9, 1520)],
        accounts={"2026": chart},
        receivables_account=1300,
        country="NL",
    )
    by_kind = {(p.kind, p.what): p for p in found}
    assert set(by_kind) == {
        (VAT_RATE_MISMATCH, "tax rate '9%' (9 %)"),
        (NOT_REVENUE_ACCOUNT, "account 1100"),
        (NOT_REVENUE_ACCOUNT, "account 1300"),
    }
    mismatch = by_kind[(VAT_RATE_MISMATCH, "tax rate '9%' (9 %)")]
    assert mismatch.tax_rate_ids == frozenset({"rate-9"})
    assert "--tax-rate 9% --vat-code 1b" in mismatch.detail
    receivables = by_kind[(NOT_REVENUE_ACCOUNT, "account 1300")]
    assert receivables.detail.startswith(
        "1300 Debiteuren is a receivables account (its type in Visma is 'Debiteuren'), not a "
        "revenue account; revenue accounts of this chart: 8000 Omzet hoog, 8010 Omzet laag."
    )
    assert receivables.tax_rate_ids == frozenset({"rate-21"})
    bank = by_kind[(NOT_REVENUE_ACCOUNT, "account 1100")]
    assert "product category 'Hardware'" in bank.detail
    assert bank.category_ids == frozenset({"hardware"})


def test_a_proposal_never_takes_a_balance_sheet_account_tied_to_a_vat_code() -> None:
    # Given a chart where the 21 % code is tied to its own VAT account and to revenue 8000
    accounts = [
        account(1510, "BTW hoog", "Omzetbelasting", VatCodeId="1a"),
        account(8000, "Omzet hoog", "Omzet", VatCodeId="1a"),
    ]
    rate = TaxRate(id="rate-21", description="21%", rate=Decimal("0.21"))
    proposed, unmapped = propose([rate], [code("1a", 21, 1510)], accounts, "NL")
    assert [row.revenue_account for row in proposed] == [8000]
    assert unmapped == []
