"""Sensible default VAT mappings, proposed from the Visma chart of accounts.

A Teamleader tax rate maps to the Visma VAT code with the same rate; among the several
0 % codes (exempt, reverse charge, intra-EU, export) the tax rate's description decides.
Its revenue account is the account the chart ties to that VAT code. Anything without a
convincing match is left unmapped, so pre-flight and the consumers say so instead of
guessing a bookkeeping treatment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal

from psycopg_pool import ConnectionPool

from clients.teamleader.models import TaxRate
from clients.visma.models import Account, VatCode
from store import mappings
from store.mappings import VatRow

#: Words in a 0 % tax rate's description (Dutch, Flemish, French, English) → words in the
#: Visma VAT code's description that mean the same treatment.
ZERO_RATE_KINDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("verlegd", "medecontractant", "cocontractant", "reverse"), ("verlegd", "reverse")),
    # Export before intra-EU: "buiten de EU" also contains "EU".
    (("export", "uitvoer", "buiten de eu"), ("uitvoer", "export", "buiten de eu")),
    (
        ("icl", "icp", "intracommunautair", "intracommunautaire", "intra", " eu"),
        ("binnen de eu", "icp", "intra", " eu"),
    ),
)


def _zero_kind(text: str) -> int | None:
    lowered = f" {text.lower()}"
    for index, (teamleader_words, _visma_words) in enumerate(ZERO_RATE_KINDS):
        if any(word in lowered for word in teamleader_words):
            return index
    return None


def _visma_zero_kind(code: VatCode) -> int | None:
    lowered = f" {(code.Description or '').lower()}"
    for index, (_teamleader_words, visma_words) in enumerate(ZERO_RATE_KINDS):
        if any(word in lowered for word in visma_words):
            return index
    return None


def propose(
    tax_rates: Iterable[TaxRate], vat_codes: Iterable[VatCode], accounts: Iterable[Account]
) -> tuple[list[VatRow], list[TaxRate]]:
    """(proposed mappings, tax rates left unmapped)."""
    codes = sorted(vat_codes, key=lambda c: (c.Code or "", c.Id))
    revenue_by_code: dict[str, int] = {}
    for account in sorted(accounts, key=lambda a: int(a.Number)):
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
    kind = _zero_kind(rate.description or "")
    matching = [c for c in same_rate if _visma_zero_kind(c) == kind]
    return matching[0] if matching else None


def store_missing(
    pool: ConnectionPool, connection_id: uuid.UUID, proposed: Iterable[VatRow]
) -> list[VatRow]:
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
