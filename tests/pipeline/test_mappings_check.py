"""``koppel mappings check``: the pre-flight table of what would stop documents, exit 1 if any."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from config import Settings
from ops.cli import main
from ops.connect.connecting import Connected, connect_sandbox
from sandbox.visma.company import default_company, fiscal_year_id
from store import connections
from tests.conftest import TODAY, Sandbox
from tests.pipeline.conftest import generated
from tests.pipeline.support import koppel_cli, set_revenue_account

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


# -- mappings Visma accepts but that would book wrong: `check` and the backfill's dry run ------
def row_with(output: str, *parts: str) -> list[str]:
    """The cells of the one table row holding every part, a cell's wrapped lines joined."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0] or not rows:  # a row's first line; the next lines leave it empty
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    found = [cells for cells in rows if all(any(p in c for c in cells) for p in parts)]
    assert len(found) == 1, (parts, output)
    return found[0]


def koppel_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return koppel_cli(env, *args)


def backfill_dry_run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The backfill's preview of every generated document (dated from last year on)."""
    return koppel_process(env, "backfill", "--from", f"{TODAY.year - 1}-01-01", "--dry-run")


def test_a_vat_code_of_another_rate_stops_check_and_the_backfill_dry_run(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given the 9 % rate mapped to the 21 % VAT code (stored with --force, or before Koppel
    # refused it), and the documents left to the backfill
    forced = koppel_process(
        koppel_env, "mappings", "set", "--tax-rate", "9%", "--vat-code", "1a", "--force"
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    connections.update(pool, connected.connection.id, sync_from=TODAY)
    # When the pre-flight check runs, and the backfill is previewed
    result = koppel_process(koppel_env, "mappings", "check")
    dry = backfill_dry_run(koppel_env)
    # Then the check names the mismatch, the code that fits and the command, with exit 1
    assert result.returncode == 1, result.stdout + result.stderr
    mismatch = row_with(result.stdout, "VAT code of another rate", "tax rate '9%' (9 %)")[2]
    assert "VAT code 1a is 21 % but tax rate '9%' is 9 %" in mismatch
    assert "Visma's VAT codes of 9 %: 1b." in mismatch
    assert "koppel mappings set --connection test --tax-rate 9% --vat-code 1b" in mismatch
    assert "1 problem stops documents from being posted." in result.stdout
    # And the dry run stops the documents with 9 % lines on it, with exit 1
    assert dry.returncode == 1, dry.stdout + dry.stderr
    problem = row_with(dry.stdout, "VAT code of another rate", "tax rate '9%'")
    blocked = int(problem[2].split(":")[0])
    # (a credit note of a stopped invoice is stopped too, with a problem of its own)
    with_problems = re.search(r"(\d+) with problems", dry.stdout)
    assert with_problems is not None, dry.stdout
    assert 0 < blocked <= int(with_problems.group(1))
    assert "Dry run: nothing was written." in dry.stdout


def test_revenue_stored_on_a_balance_sheet_account_stops_check_and_the_backfill_dry_run(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given the 21 % rate's revenue on the receivables account 1300, stored before Koppel
    # refused it, and the documents left to the backfill
    set_revenue_account(pool, connected, "21%", 1300)
    connections.update(pool, connected.connection.id, sync_from=TODAY)
    # When the pre-flight check runs, and the backfill is previewed
    result = koppel_process(koppel_env, "mappings", "check")
    dry = backfill_dry_run(koppel_env)
    # Then the check says what 1300 is and which accounts would fit, with exit 1
    assert result.returncode == 1, result.stdout + result.stderr
    wrong = row_with(result.stdout, "not a revenue account", "account 1300")[2]
    assert "1300 Debiteuren is a receivables account" in wrong
    assert "revenue accounts of this chart: 8000 Omzet hoog tarief" in wrong
    assert "revenue of tax rate '21%'" in wrong
    # And the dry run stops the documents with 21 % lines on it, with exit 1
    assert dry.returncode == 1, dry.stdout + dry.stderr
    problem = row_with(dry.stdout, "not a revenue account", "account 1300")
    assert int(problem[2].split(":")[0]) > 0
    assert "1300 Debiteuren is a receivables account" in problem[3]
