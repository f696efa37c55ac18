"""What kind of ledger account a Visma account is, so revenue is never booked to the wrong one.

Koppel credits a document's revenue to the account a VAT mapping or a product category
names. A receivables, VAT, bank or other balance-sheet account there books without any
error from Visma and leaves the books wrong, so such a mapping is refused. The kind comes
from what Visma says, most telling first:

1. the account is the connection's receivables account, or a VAT code books its VAT to it
   (``RelatedAccounts``): Visma itself uses it that way;
2. its ``TypeDescription`` (Visma returns account types for Dutch companies only);
3. its number class in the company country's standard chart (Dutch decimal chart: 8
   revenue, 0–3 balance sheet; Swedish BAS and Norwegian NS 4102: 3 revenue, 1–2 balance
   sheet).

When none of these tells, the account is not judged: a chart Koppel cannot read is the
bookkeeper's call, not a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clients.visma.models import Account, VatCode


@dataclass(frozen=True)
class Kind:
    #: How a sentence names it: "a receivables account".
    label: str
    #: On the balance sheet: revenue credited to it would vanish from the profit and loss.
    balance_sheet: bool
    revenue: bool = False


REVENUE = Kind("a revenue account", balance_sheet=False, revenue=True)
PROFIT_AND_LOSS = Kind("a profit-and-loss account", balance_sheet=False)
RECEIVABLES = Kind("a receivables account", balance_sheet=True)
PAYABLES = Kind("a payables account", balance_sheet=True)
VAT = Kind("a VAT account", balance_sheet=True)
BANK = Kind("a bank or cash account", balance_sheet=True)
BALANCE_SHEET = Kind("a balance-sheet account", balance_sheet=True)

#: Words of a ``TypeDescription`` (English, Dutch, Swedish, Norwegian) per kind, in the
#: order they are tried: VAT first ("omzetbelasting" is Dutch for VAT), costs before the
#: rest ("kostprijs van de omzet" is the cost of sales, "bankkosten" bank charges).
TYPE_WORDS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (VAT, re.compile(r"\b(vat|btw|omzetbelasting|moms|mva|merverdiavgift)\b")),
    (PROFIT_AND_LOSS, re.compile(r"(cost|expense|kosten|kostprijs|kostnad|lasten|\bloss\b)")),
    (RECEIVABLES, re.compile(r"(receivable|debiteur|kundfordring|kundefordring)")),
    (PAYABLES, re.compile(r"(payable|crediteur|leverantörsskuld|leverandørgjeld)")),
    (BANK, re.compile(r"(\bbank|\bcash\b|\bkas\b|\bkassa\b|liquid|liquide|kontant)")),
    (REVENUE, re.compile(r"(revenue|sales|income|turnover|omzet|opbrengst|intäkt|inntekt)")),
    (
        BALANCE_SHEET,
        re.compile(
            r"(balans|balance|asset|activa|passiva|liabilit|equity|vermogen|schuld|vordering"
            r"|voorraad|inventory|tillgång|skuld|eiendel|gjeld|egenkapital)"
        ),
    ),
)

#: Country → (chart name, first digit → kind, (first two digits → kind)) of the standard
#: charts Visma eAccounting companies keep.
_NORDIC_DETAIL = {"15": RECEIVABLES, "19": BANK, "24": PAYABLES}
CHARTS: dict[str, tuple[str, dict[str, Kind], dict[str, Kind]]] = {
    "NL": (
        "the Dutch chart",
        {
            **dict.fromkeys("0123", BALANCE_SHEET),
            **dict.fromkeys("45679", PROFIT_AND_LOSS),
            "8": REVENUE,
        },
        {},
    ),
    "SE": (
        "the Swedish BAS chart",
        {
            **dict.fromkeys("12", BALANCE_SHEET),
            "3": REVENUE,
            **dict.fromkeys("45678", PROFIT_AND_LOSS),
        },
        {**_NORDIC_DETAIL, "26": VAT},
    ),
    "NO": (
        "the Norwegian NS 4102 chart",
        {
            **dict.fromkeys("12", BALANCE_SHEET),
            "3": REVENUE,
            **dict.fromkeys("45678", PROFIT_AND_LOSS),
        },
        {**_NORDIC_DETAIL, "27": VAT},
    ),
}


@dataclass(frozen=True)
class Finding:
    """An account's kind and how Koppel knows it."""

    kind: Kind
    #: e.g. "its type in Visma is 'Debiteuren'".
    because: str


def _type_kind(description: str | None) -> Kind | None:
    text = (description or "").strip().lower()
    if not text:
        return None
    for kind, pattern in TYPE_WORDS:
        if pattern.search(text):
            return kind
    return None


def _class_kind(number: str, country: str | None) -> tuple[Kind, str] | None:
    chart = CHARTS.get((country or "").upper())
    digits = number.strip()
    if chart is None or not digits.isdigit():
        return None
    name, by_class, by_group = chart
    if len(digits) == 4 and digits[:2] in by_group:
        return by_group[digits[:2]], f"{name}, group {digits[:2]}"
    kind = by_class.get(digits[0])
    return (kind, f"{name}, class {digits[0]}") if kind else None


@dataclass(frozen=True)
class Chart:
    """One Visma company's accounts, with what tells their kind."""

    accounts: Sequence[Account]
    #: The company's country (``CompanySettings.CountryCode``): which standard chart.
    country: str | None = None
    vat_codes: Sequence[VatCode] = ()
    #: The connection's receivables account.
    receivables_account: int | None = None

    def account(self, number: int) -> Account | None:
        return next((a for a in self.accounts if a.Number.strip() == str(number)), None)

    def _vat_accounts(self) -> set[int]:
        found: set[int] = set()
        for code in self.vat_codes:
            related = code.RelatedAccounts
            if related is not None:
                numbers = (related.AccountNumber1, related.AccountNumber2, related.AccountNumber3)
                found |= {n for n in numbers if n is not None}
        return found

    def finding(self, number: int) -> Finding | None:
        """The account's kind, or None when nothing Visma says tells it."""
        account = self.account(number)
        typed = _type_kind(account.TypeDescription) if account is not None else None
        because = f"its type in Visma is {account.TypeDescription!r}" if account else ""
        if typed is not None and typed.balance_sheet:
            return Finding(typed, because)
        # How Visma and the connection use the account outweigh a type saying otherwise.
        if number == self.receivables_account:
            return Finding(RECEIVABLES, "it is the connection's receivables account")
        if number in self._vat_accounts():
            return Finding(VAT, "a Visma VAT code books its VAT to it")
        if typed is not None:
            return Finding(typed, because)
        by_class = _class_kind(str(number), self.country)
        if by_class is not None:
            return Finding(by_class[0], by_class[1])
        return None

    def revenue_accounts(self, vat_code_id: str | None = None) -> list[Account]:
        """The active accounts that are revenue accounts, those tied to ``vat_code_id``
        first (the chart's own pairing of a VAT code and its revenue), then by number."""
        seen: set[str] = set()
        found: list[Account] = []
        for account in self.accounts:
            number = account.Number.strip()
            if number in seen or not account.IsActive or not number.isdigit():
                continue
            seen.add(number)
            finding = self.finding(int(number))
            if finding is not None and finding.kind.revenue:
                found.append(account)
        wanted = (vat_code_id or "").lower()
        return sorted(
            found,
            key=lambda a: (not wanted or (a.VatCodeId or "").lower() != wanted, int(a.Number)),
        )

    def revenue_refusal(self, number: int, vat_code_id: str | None = None) -> str | None:
        """Why revenue cannot be booked to ``number`` and what would fit (None: it can, or
        the chart does not tell)."""
        finding = self.finding(number)
        if finding is None or not finding.kind.balance_sheet:
            return None
        account = self.account(number)
        name = f"{number} {account.Name}" if account is not None else str(number)
        return (
            f"{name} is {finding.kind.label} ({finding.because}), not a revenue account; "
            + fitting_accounts(self.revenue_accounts(vat_code_id))
        )


def fitting_accounts(accounts: Iterable[Account], most: int = 4) -> str:
    """``revenue accounts of this chart: 8000 Omzet hoog tarief, …`` (a few of them)."""
    listed = list(accounts)
    if not listed:
        return "choose a revenue account of Visma's chart."
    shown = ", ".join(f"{a.Number.strip()} {a.Name}" for a in listed[:most])
    more = f" and {len(listed) - most} more" if len(listed) > most else ""
    return f"revenue accounts of this chart: {shown}{more}."
