"""Why a Teamleader document cannot become a Visma posting, in words a bookkeeper can act on.

A :class:`TranslationError` is permanent for the document as it stands: retrying it cannot
help, so the consumer dead-letters it at once with :attr:`TranslationError.reason`
(docs/architecture.md#failures-are-data) — except :class:`NothingToPost`, which the consumer
records as skipped. In Koppel's error tree (config/errors.py) it is a
:class:`~config.errors.NeedsPerson`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from config.errors import NeedsPerson


class TranslationError(NeedsPerson):
    """A document that cannot be posted; ``reason`` names the document and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedDocument(TranslationError):
    """Something the posting cannot express: no exchange rate, an unparsable number, …"""


class NothingToPost(TranslationError):
    """Every amount of the document is zero: there is nothing to book (record it as skipped)."""


def percent(rate: Decimal) -> str:
    """``0.21`` → ``"21 %"``, ``0.055`` → ``"5.5 %"`` (rates are fractions throughout)."""
    text = format((rate * 100).normalize(), "f")
    return f"{text} %"


@dataclass(frozen=True)
class TaxRateProblem:
    """One Teamleader tax rate that has no usable mapping, with what we know about it."""

    tax_rate_id: str
    description: str | None
    #: Teamleader's rate, when known (a line only carries the tax rate's id).
    rate: Decimal | None
    #: Descriptions of the document's lines that use it (the bookkeeper finds them by these).
    lines: tuple[str, ...] = ()
    #: What is wrong with the mapping; None when there is none at all.
    problem: str | None = None

    def describe(self) -> str:
        name = f"'{self.description}'" if self.description else "(no description)"
        rate = f"{percent(self.rate)}, " if self.rate is not None else ""
        text = f"tax rate {name} ({rate}id {self.tax_rate_id})"
        if self.lines:
            text += " on " + line_list(self.lines)
        return text + (f" {self.problem}" if self.problem else " has no VAT mapping")


class UnmappedTaxRate(TranslationError):
    """A line's Teamleader tax rate has no (usable) Visma VAT mapping."""

    def __init__(
        self, document: str, problems: Sequence[TaxRateProblem], note: str | None = None
    ) -> None:
        self.document = document
        self.problems = tuple(problems)
        self.note = note
        self.tax_rate_ids = tuple(p.tax_rate_id for p in self.problems)
        described = "; ".join(p.describe() for p in self.problems)
        extra = f". {note}" if note else ""
        whose = "tax rate's VAT mapping" if len(self.problems) == 1 else "tax rates' VAT mappings"
        super().__init__(
            f"{document}: {described}{extra}. Set the {whose} (Visma VAT code, rate, accounts) "
            "with `koppel mappings set`, then requeue the document."
        )

    def __reduce__(
        self,
    ) -> tuple[type[UnmappedTaxRate], tuple[str, tuple[TaxRateProblem, ...], str | None]]:
        # Exceptions pickle through their args (the reason); rebuild from the parts instead.
        return (type(self), (self.document, self.problems, self.note))


@dataclass(frozen=True)
class AccountProblem:
    """One ledger account a posting needs that the Visma company does not have."""

    account: int
    #: Where the number comes from: "product category 'Consultancy' (id …)", "VAT mapping …".
    sources: tuple[str, ...]


class MissingAccount(TranslationError):
    """Accounts the posting would book to do not exist in Visma (all of them named at once)."""

    def __init__(self, document: str, problems: Sequence[AccountProblem]) -> None:
        self.document = document
        self.problems = tuple(sorted(problems, key=lambda p: p.account))
        self.accounts = tuple(p.account for p in self.problems)
        described = "; ".join(
            f"account {p.account} (from {', '.join(p.sources)})" for p in self.problems
        )
        one = len(self.problems) == 1
        noun, it = ("account does", "it") if one else ("accounts do", "them")
        super().__init__(
            f"{document}: the ledger {noun} not exist in Visma: {described}. Create "
            f"{it} in Visma's chart of accounts, or map the category or tax rate to an "
            "existing account with `koppel mappings set`, then requeue the document."
        )

    def __reduce__(self) -> tuple[type[MissingAccount], tuple[str, tuple[AccountProblem, ...]]]:
        return (type(self), (self.document, self.problems))


def line_list(descriptions: Sequence[str], limit: int = 3) -> str:
    """``line 'A'`` / ``lines 'A', 'B' and 2 more``: which lines a problem concerns."""
    shown = [f"'{d}'" for d in descriptions[:limit]]
    more = len(descriptions) - limit
    label = "line" if len(descriptions) == 1 else "lines"
    return f"{label} " + ", ".join(shown) + (f" and {more} more" if more > 0 else "")
