"""Sensible default VAT mappings, proposed from the Visma chart of accounts.

A Teamleader tax rate maps to the Visma VAT code with the same rate; among the several
0 % codes (exempt, reverse charge, intra-EU, export) the tax rate's description decides.
Its revenue account is the account the chart ties to that VAT code, unless the chart says
it is a balance-sheet account (``ops/mappings/account_kinds.py``). Anything without a
convincing match is left unmapped, so pre-flight and the consumers say so instead of
guessing a bookkeeping treatment.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from decimal import Decimal

from clients.teamleader.models import TaxRate
from clients.visma.models import Account, VatCode
from ops.mappings.account_kinds import Chart
from store import mappings
from store.db import Pool
from store.mappings import VatRow

#: Per treatment of a 0 % rate: (pattern for a Teamleader tax rate's description, pattern
#: for a Visma VAT code's description). Whole words only: "icl" must not match "article".
ZERO_RATE_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"\b(verlegd|medecontractant|cocontractant|reverse)\b"),
        re.compile(r"\b(verlegd|reverse)\b"),
    ),
    # Export before intra-EU: "buiten de EU" also names the EU.
    (
        re.compile(r"\b(export|uitvoer|buiten de eu)\b"),
        re.compile(r"\b(export|uitvoer|buiten de eu)\b"),
    ),
    (
        re.compile(r"\b(icl|icp|intracommunautaire?|intra-?eu|eu)\b"),
        re.compile(r"\b(binnen de eu|icp|intracommunautaire?|intra-?eu)\b"),
    ),
)


def _zero_kind(description: str | None, side: int) -> int | None:
    """Which treatment a description names; ``side`` 0 reads Teamleader's, 1 Visma's."""
    text = (description or "").lower()
    for index, patterns in enumerate(ZERO_RATE_KINDS):
        if patterns[side].search(text):
            return index
    return None


def propose(
    tax_rates: Iterable[TaxRate],
    vat_codes: Iterable[VatCode],
    accounts: Iterable[Account],
    country: str | None = None,
) -> tuple[list[VatRow], list[TaxRate]]:
    """(proposed mappings, tax rates left unmapped); ``country``: the Visma company's, whose
    standard chart tells an account's kind when Visma gives it no type."""
    codes = sorted(vat_codes, key=lambda c: (c.Code or "", c.Id))
    account_list = [a for a in accounts if a.Number.strip().isdigit()]
    chart = Chart(account_list, country, codes)
    revenue_by_code: dict[str, int] = {}
    for account in sorted(account_list, key=lambda a: int(a.Number)):
        finding = chart.finding(int(account.Number))
        if finding is not None and finding.kind.balance_sheet:
            continue  # a VAT code tied to a balance-sheet account proposes no revenue
        if account.VatCodeId and account.IsActive:
            revenue_by_code.setdefault(account.VatCodeId.lower(), int(account.Number))
    proposed: list[VatRow] = []
    unmapped: list[TaxRate] = []
    for rate in tax_rates:
        code = _pick_code(rate, codes, revenue_by_code)
        if code is None:
            unmapped.append(rate)
            continue
        proposed.append(
            VatRow(
                tax_rate_id=rate.id,
                rate=rate.rate,
                description=rate.description,
                vat_code_id=code.Id,
                vat_code=code.Code,
                revenue_account=revenue_by_code[code.Id.lower()],
            )
        )
    return proposed, unmapped


def _pick_code(
    rate: TaxRate, codes: list[VatCode], revenue_by_code: dict[str, int]
) -> VatCode | None:
    # Visma keeps rates as percentages (21), Teamleader as fractions (0.21).
    percent = (rate.rate * 100).normalize()
    same_rate = [
        c
        for c in codes
        if Decimal(c.VatRate).normalize() == percent and c.Id.lower() in revenue_by_code
    ]
    if percent != 0:
        return same_rate[0] if same_rate else None
    kind = _zero_kind(rate.description, 0)
    matching = [c for c in same_rate if _zero_kind(c.Description, 1) == kind]
    return matching[0] if matching else None


def store_missing(pool: Pool, connection_id: uuid.UUID, proposed: Iterable[VatRow]) -> list[VatRow]:
    """Store the proposed rows of tax rates that have no mapping yet; return those stored.

    A tax rate that already has a row keeps it: it may be what a person set with
    ``koppel mappings set``, and a proposal never overrules a person."""
    existing = {row.tax_rate_id for row in mappings.vat_rows(pool, connection_id)}
    stored: list[VatRow] = []
    for row in proposed:
        if row.tax_rate_id not in existing:
            mappings.set_vat(pool, connection_id, row)
            stored.append(row)
    return stored
