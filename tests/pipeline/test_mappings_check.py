"""``koppel mappings check``: the pre-flight table of what would stop documents, exit 1 if any."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from config import Settings
from ops.cli import main
from ops.connecting import Connected, connect_sandbox
from sandbox.visma.company import default_company, fiscal_year_id
from store import connections
from tests.conftest import TODAY, Sandbox
from tests.pipeline.conftest import generated
from tests.pipeline.support import set_revenue_account

#: Command output is read row by row.
pytestmark = pytest.mark.usefixtures("wide_terminal")


def check() -> Any:
    return CliRunner().invoke(main, ["mappings", "check"], catch_exceptions=False)


def line_with(output: str, *parts: str) -> str:
    """The one line of ``output`` that holds every part (a table row)."""
    found = [line for line in output.splitlines() if all(part in line for part in parts)]
    assert len(found) == 1, (parts, output)
    return found[0]


def test_a_connection_with_every_rate_and_account_in_visma_passes_with_exit_0(
    connected: Connected,
) -> None:
    # Given the generated account, its tax rates mapped as proposed at connect time
    assert connected.unmapped == []
    # When the pre-flight check runs
    result = check()
    # Then it says all is mapped, without a table
    assert result.exit_code == 0, result.output
    assert "test: all mapped" in result.output
    assert "Pre-flight problems" not in result.output


def test_an_unmapped_rate_and_accounts_visma_lacks_are_listed_with_exit_1(
    pool: ConnectionPool, settings: Settings, sandbox: Sandbox
) -> None:
    # Given a Teamleader account whose category 'Hardware' books to 8950 in the NL
    # department, which the Visma company does not have
    dataset = generated()
    nl = "0c5c7fd0-a6a3-4450-a513-270e269e0d37"
    categories = dataset["teamleader"]["productCategories"]
    hardware = next(c for c in categories if c["name"] == "Hardware")
    for ledger in hardware["ledgers"]:
        if ledger["department"]["id"] == nl:
            ledger["ledger_account_number"] = "8950"
    sandbox.reset(dataset)
    connected = connect_sandbox(settings, pool, name="test", sync_from=TODAY - timedelta(days=30))
    assert connected.department.id == nl
    # and the 9 % rate without a mapping, 21 % mapped to revenue 8150 and receivables 1399,
    # two more accounts Visma lacks
    with pool.connection() as conn:
        conn.execute("DELETE FROM vat_mappings WHERE description = '9%'")
    set_revenue_account(pool, connected, "21%", 8150)
    connections.update(pool, connected.connection.id, receivables_account=1399)
    # When the pre-flight check runs
    result = check()
    # Then it exits 1 with one row per problem, each saying what to do
    assert result.exit_code == 1, result.output
    output = result.output
    unmapped = line_with(output, "unmapped tax rate", "9%")
    assert "koppel mappings set --connection test --tax-rate 9%" in unmapped
    assert "revenue of tax rate '21%'" in line_with(output, "missing account", "account 8150")
    assert "product category 'Hardware'" in line_with(output, "missing account", "account 8950")
    assert "receivables" in line_with(output, "missing account", "account 1399")
    assert "4 problems stop documents from being posted." in output
    # And the accounts that do exist (8100–8300, 1300) are not mentioned
    for fine in ("8100", "8200", "8300", "1300"):
        assert f"account {fine}" not in output


def test_a_vat_code_booking_to_no_account_and_an_account_missing_in_last_fiscal_year_are_listed(
    pool: ConnectionPool, settings: Settings, sandbox: Sandbox
) -> None:
    # Given a Visma company whose 9 % VAT code books its VAT to no account, and whose chart of
    # last fiscal year lacks 1510, the VAT account of the 21 % code (this year's has it)
    today = TODAY
    company = default_company(today)
    for code in company["vatcodes"]:
        if code["Code"] == "1b":
            code["RelatedAccounts"] = {"AccountNumber1": None}
    last_year = fiscal_year_id(today.year - 1)
    company["accounts"] = [
        a
        for a in company["accounts"]
        if not (a["Number"] == "1510" and a["FiscalYearId"] == last_year)
    ]
    dataset = generated()
    dataset["visma"] = company
    sandbox.reset(dataset)
    # and a connection that syncs from the middle of last year
    connect_sandbox(settings, pool, name="test", sync_from=date(today.year - 1, 6, 1))
    # When the pre-flight check runs
    result = check()
    # Then both are listed, the account with the fiscal year that lacks it
    assert result.exit_code == 1, result.output
    output = result.output
    assert "tax rate '9%'" in line_with(output, "VAT code without VAT account", "1b")
    missing = line_with(output, "missing account", f"account 1510 in fiscal year {today.year - 1}")
    assert "VAT of tax rate '21%'" in missing
    assert "2 problems stop documents from being posted." in output
