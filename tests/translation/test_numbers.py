"""Teamleader's "2026 / 17" → Visma's integer InvoiceNumber."""

from __future__ import annotations

import pytest

from translation.errors import UnsupportedDocument
from translation.numbers import visma_invoice_number

INVOICES = "{year}{number:05d}"
CREDIT_NOTES = "{year}9{number:04d}"


@pytest.mark.parametrize(
    ("teamleader", "rule", "visma"),
    [
        ("2026 / 17", INVOICES, 202600017),
        ("2026/17", INVOICES, 202600017),
        (" 2026 /17 ", INVOICES, 202600017),
        ("2026 / 99999", INVOICES, 202699999),
        ("2026 / 3", CREDIT_NOTES, 202690003),
        ("2025 / 9999", CREDIT_NOTES, 202599999),
        ("2026 / 17", "{number}", 17),
        ("2026 / 17", "{year:04d}{number:06d}", 2026000017),
        ("2026 / 17", "1{number:03d}", 1017),
    ],
)
def test_a_teamleader_number_becomes_the_visma_number_its_rule_gives(
    teamleader: str, rule: str, visma: int
) -> None:
    assert visma_invoice_number(teamleader, rule) == visma


@pytest.mark.parametrize(
    ("teamleader", "rule"),
    [
        ("2026 / 100000", INVOICES),
        ("2026 / 10000", CREDIT_NOTES),
        ("2026 / 17", "{year:02d}{number:05d}"),
    ],
)
def test_a_sequence_wider_than_the_rule_reserves_is_refused_rather_than_colliding(
    teamleader: str, rule: str
) -> None:
    with pytest.raises(UnsupportedDocument) as raised:
        visma_invoice_number(teamleader, rule)
    assert "digits the invoice number rule" in raised.value.reason
    assert "collide" in raised.value.reason


@pytest.mark.parametrize(
    "teamleader", ["", "17", "2026-17", "2026 / ", "INV 2026 / 17", "2026 / -1"]
)
def test_a_number_that_is_not_year_slash_sequence_is_refused(teamleader: str) -> None:
    with pytest.raises(UnsupportedDocument) as raised:
        visma_invoice_number(teamleader, INVOICES)
    assert "year / sequence" in raised.value.reason


def test_a_missing_number_is_refused_as_a_probable_draft() -> None:
    with pytest.raises(UnsupportedDocument) as raised:
        visma_invoice_number(None, INVOICES)  # type: ignore[arg-type]
    assert "draft" in raised.value.reason


def test_a_result_beyond_int32_is_refused() -> None:
    # 2026 followed by 6 digits is 2026000017 (fits); 7 digits is past 2147483647.
    with pytest.raises(UnsupportedDocument) as raised:
        visma_invoice_number("2026 / 17", "{year}{number:07d}")
    assert "2147483647" in raised.value.reason


@pytest.mark.parametrize("rule", ["{year}-{number}", "{number:+d}", "{year}{sequence}", "{0}"])
def test_a_rule_that_does_not_give_digits_from_year_and_number_is_refused(rule: str) -> None:
    with pytest.raises(UnsupportedDocument) as raised:
        visma_invoice_number("2026 / 17", rule)
    assert repr(rule) in raised.value.reason


def test_a_zero_result_is_refused() -> None:
    with pytest.raises(UnsupportedDocument):
        visma_invoice_number("2026 / 0", "{number}")
