"""``koppel mappings check`` on an account's real numbers and currencies (issue 13): the
predicted collisions between the number rules, numbers the rules cannot represent, and the
exchange-rate reading in force; ``koppel mappings set`` changes the readings."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from ops.cli import main
from ops.connect.connecting import Connected
from store import connections
from tests.conftest import Sandbox
from tests.pipeline.support import teamleader_part
from tests.teamleader.support import control

#: Command output is read row by row.
pytestmark = pytest.mark.usefixtures("wide_terminal")


def koppel(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def book(sandbox: Sandbox, connected: Connected, on: str, **extra: Any) -> dict[str, Any]:
    department = connected.department.id
    rate = next(
        t["id"]
        for t in teamleader_part()["taxRates"]
        if t["department"]["id"] == department and t["description"] == "21%"
    )
    body = {
        "department_id": department,
        "customer": {"type": "company", "id": teamleader_part()["companies"][0]["id"]},
        "lines": [{"description": "Advies", "quantity": 1, "unit_price": 100, "tax_rate_id": rate}],
        "book_on": on,
        **extra,
    }
    return control(sandbox, "invoices", body)


def test_check_predicts_rule_collisions_names_unrepresentable_numbers_and_the_reading(
    connected: Connected, sandbox: Sandbox
) -> None:
    # Given an account with an invoice sequence from 90000, a named fiscal year, and a
    # dollar invoice
    control(sandbox, "reset", {**teamleader_part(), "invoices": [], "creditNotes": []})
    department = connected.department.id
    control(sandbox, "numbering", {"department_id": department, "year": 2026, "start": 90001})
    book(sandbox, connected, "2026-03-02")
    control(sandbox, "numbering", {"department_id": department, "year": 2025, "name": "FY2025"})
    book(sandbox, connected, "2025-11-02", currency="USD", currency_exchange_rate="1.0845")
    # When the pre-flight check runs
    result = koppel("mappings", "check")
    # Then the numbers and the currency are noted, and nothing is a problem
    assert result.exit_code == 0, result.output
    assert "1 invoice numbers in the credit-note rule's range" in result.output
    assert "invoice 2026 / 90001 (202690001)" in result.output
    assert "1 numbers the rules cannot represent" in result.output
    assert "invoice FY2025 / 1" in result.output
    assert "1 foreign-currency documents" in result.output, result.output
    assert "exchange rate reading in force: labels" in result.output


def test_set_changes_the_exchange_rate_reading_and_the_credits_of_earlier_invoices(
    connected: Connected, pool: ConnectionPool
) -> None:
    result = koppel(
        "mappings",
        "set",
        "--exchange-rate-reading",
        "flipped",
        "--credits-of-earlier-invoices",
        "post",
    )

    assert result.exit_code == 0, result.output
    stored = connections.get(pool, connected.connection.id)
    assert (stored.exchange_rate_reading, stored.credits_of_earlier_invoices) == ("flipped", "post")
    assert "exchange rate reading: flipped" in result.output
    refused = koppel("mappings", "set", "--exchange-rate-reading", "sideways")
    assert refused.exit_code == 2
