"""``koppel mappings``: show what a connection books to, change it only to what Visma has,
and never to something that would book wrong (revenue on a balance-sheet account, a VAT code
of another rate)."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from config import Settings
from ops.cli import main
from ops.connect.connecting import Connected, connect_sandbox
from ops.mappings.number_rules import number_rule_problems
from sandbox.visma.company import terms_of_payment_id, vat_code_id
from store import connections, mappings
from tests.conftest import TODAY, Sandbox
from tests.pipeline.conftest import generated
from tests.pipeline.support import connection_clients, koppel_cli
from tests.spec_check import SpecChecker

#: Command output is read row by row.
pytestmark = pytest.mark.usefixtures("wide_terminal")


def koppel(*args: str) -> Any:
    return CliRunner().invoke(main, ["mappings", *args], catch_exceptions=False)


def rows_by_description(pool: ConnectionPool, connected: Connected) -> dict[str, mappings.VatRow]:
    return {row.description or "": row for row in mappings.vat_rows(pool, connected.connection.id)}


def test_show_lists_every_tax_rate_of_the_department_and_the_posting_rules(
    connected: Connected, pool: ConnectionPool, settings: Settings, teamleader_spec: SpecChecker
) -> None:
    # Given a connection whose 9 % rate lost its mapping
    with pool.connection() as conn:
        conn.execute("DELETE FROM vat_mappings WHERE description = '9%'")
    hooks = {"teamleader": teamleader_spec.hooks()}
    with connection_clients(settings, pool, connected.connection, hooks) as clients:
        rates = clients.teamleader.tax_rates(connected.department.id)
    # When the mappings are shown whole (the only connection, so without --connection)
    result = koppel("show", "--wide")
    # Then every tax rate of the department has a line with its mapping or "not mapped"
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    stored = rows_by_description(pool, connected)
    assert len(rates) == 5
    for rate in rates:
        line = next(line for line in lines if rate.id in line)
        if rate.description == "9%":
            assert "not mapped" in line
        else:
            row = stored[rate.description or ""]
            assert re.search(rf"\s{row.vat_code}\s.*\s{row.revenue_account} Omzet", line), line
    # and the receivables account, both number rules with an example, and the terms
    year = TODAY.year
    assert "receivables account: 1300 Debiteuren" in result.stdout
    assert f"{{year}}{{number:05d}}  ({year} / 17 → {year}00017)" in result.stdout
    assert f"{{year}}9{{number:04d}}  ({year} / 17 → {year}90017)" in result.stdout
    assert f"default terms of payment: 30 dagen ({terms_of_payment_id('30')})" in result.stdout


def test_set_names_an_unknown_vat_code_and_account_and_changes_nothing(
    connected: Connected, pool: ConnectionPool
) -> None:
    before = rows_by_description(pool, connected)
    # When the 21 % rate is set to a VAT code and an account Visma does not have
    result = koppel("set", "--tax-rate", "21%", "--vat-code", "9z", "--account", "8999")
    # Then both are named, and the mapping is what it was
    assert result.exit_code == 1
    assert "Visma has no VAT code '9z'" in result.stderr
    assert "Visma has no ledger account 8999" in result.stderr
    assert rows_by_description(pool, connected) == before
    # And with only the account wrong, only the account is named
    result = koppel("set", "--tax-rate", "21%", "--vat-code", "1a", "--account", "8999")
    assert result.exit_code == 1
    assert "8999" in result.stderr
    assert "VAT code" not in result.stderr
    assert rows_by_description(pool, connected) == before


def test_set_with_values_visma_has_changes_the_mapping_row(
    connected: Connected, pool: ConnectionPool
) -> None:
    # When the 0 % rate is mapped to the export code and its account, by tax rate id
    zero = rows_by_description(pool, connected)["0%"]
    result = koppel("set", "--tax-rate", zero.tax_rate_id, "--vat-code", "3a", "--account", "8050")
    # Then the row carries the new code (with Visma's id) and account; the others are unchanged
    assert result.exit_code == 0, result.output
    after = rows_by_description(pool, connected)
    assert (after["0%"].vat_code, after["0%"].vat_code_id, after["0%"].revenue_account) == (
        "3a",
        vat_code_id("3a"),
        8050,
    )
    assert (after["21%"].vat_code, after["21%"].revenue_account) == ("1a", 8000)
    # And a mapped rate may change just its account
    result = koppel("set", "--tax-rate", "21%", "--account", "8100")
    assert result.exit_code == 0, result.output
    after = rows_by_description(pool, connected)
    assert (after["21%"].vat_code, after["21%"].revenue_account) == ("1a", 8100)


def test_set_receivables_and_default_terms_only_to_what_visma_has(
    connected: Connected, pool: ConnectionPool
) -> None:
    refused = koppel("set", "--receivables", "1399", "--default-terms", "60 dagen")
    assert refused.exit_code == 1
    assert "Visma has no ledger account 1399" in refused.stderr
    assert "Visma has no terms of payment '60 dagen'" in refused.stderr
    unchanged = connections.get(pool, connected.connection.id)
    assert (unchanged.receivables_account, unchanged.default_terms_of_payment_id) == (
        1300,
        terms_of_payment_id("30"),
    )
    accepted = koppel("set", "--receivables", "1100", "--default-terms", "14 days")
    assert accepted.exit_code == 0, accepted.output
    changed = connections.get(pool, connected.connection.id)
    assert (changed.receivables_account, changed.default_terms_of_payment_id) == (
        1100,
        terms_of_payment_id("14"),
    )


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        # The same rule for both: invoice 2026 / 17 and credit note 2026 / 17 meet.
        (("--credit-note-number-rule", "{year}{number:05d}"), "both give"),
        # No year: 2025 / 17 and 2026 / 17 meet.
        (("--invoice-number-rule", "{number}"), "the same Visma number"),
        # Not digits.
        (("--invoice-number-rule", "{year}-{number}"), "not a whole number"),
        # Three digits cannot hold the 9,999th invoice.
        (("--invoice-number-rule", "{year}{number:03d}"), "more than the 3 digits"),
        # An unknown field.
        (("--invoice-number-rule", "{year}{month}{number:05d}"), "only {year} and {number}"),
    ],
)
def test_number_rules_that_could_give_two_documents_one_number_are_refused(
    connected: Connected, pool: ConnectionPool, options: tuple[str, str], reason: str
) -> None:
    result = koppel("set", *options)
    assert result.exit_code == 1
    assert reason in result.stderr
    stored = connections.get(pool, connected.connection.id)
    assert (stored.invoice_number_rule, stored.credit_note_number_rule) == (
        "{year}{number:05d}",
        "{year}9{number:04d}",
    )


def test_a_number_rule_that_keeps_documents_apart_is_stored_with_an_example(
    connected: Connected, pool: ConnectionPool
) -> None:
    result = koppel("set", "--credit-note-number-rule", "{year}8{number:04d}")
    assert result.exit_code == 0, result.output
    assert f"{TODAY.year} / 17 → {TODAY.year}80017" in result.stdout
    stored = connections.get(pool, connected.connection.id)
    assert (stored.invoice_number_rule, stored.credit_note_number_rule) == (
        "{year}{number:05d}",
        "{year}8{number:04d}",
    )


def test_the_default_rules_pass_the_rule_check() -> None:
    assert number_rule_problems("{year}{number:05d}", "{year}9{number:04d}") == []


def test_propose_stores_only_tax_rates_without_a_mapping_and_only_with_apply(
    connected: Connected, pool: ConnectionPool
) -> None:
    # Given a person's choice for 21 % and no mapping for 9 %
    assert koppel("set", "--tax-rate", "21%", "--account", "8100").exit_code == 0
    with pool.connection() as conn:
        conn.execute("DELETE FROM vat_mappings WHERE description = '9%'")
    # When the proposal is shown, nothing is stored
    shown = koppel("propose")
    assert shown.exit_code == 0, shown.output
    assert "kept: 1a → 8100" in shown.stdout
    assert "9%" not in rows_by_description(pool, connected)
    # When it is applied, 9 % gets the proposal and 21 % keeps the person's account
    applied = koppel("propose", "--apply")
    assert applied.exit_code == 0, applied.output
    rows = rows_by_description(pool, connected)
    assert (rows["9%"].vat_code, rows["9%"].revenue_account) == ("1b", 8010)
    assert rows["21%"].revenue_account == 8100


def test_with_two_connections_the_connection_must_be_named(
    connected: Connected, pool: ConnectionPool, settings: Settings
) -> None:
    connect_sandbox(settings, pool, name="second", sync_from=date(2026, 1, 1))
    result = koppel("show")
    assert result.exit_code == 2
    assert "there are 2 connections (test, second): choose one with --connection" in (result.stderr)
    unknown = koppel("show", "--connection", "third")
    assert unknown.exit_code == 2
    assert "there is no connection named 'third' (connections: test, second)" in unknown.stderr
    assert "Traceback" not in unknown.output
    assert koppel("show", "--connection", "second").exit_code == 0


# -- mappings that would book wrong, through the real CLI ----------------------------------------
def koppel_process(env: dict[str, str], *args: str, columns: int = 250) -> Any:
    return koppel_cli(env, "mappings", *args, columns=columns)


@pytest.mark.parametrize(
    ("account", "found"),
    [
        (1300, "1300 Debiteuren is a receivables account"),
        (1520, "1520 Af te dragen BTW laag is a VAT account"),
        (1100, "1100 Bank is a bank or cash account"),
    ],
)
def test_revenue_on_a_receivables_vat_or_bank_account_is_refused_naming_what_would_fit(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str], account: int, found: str
) -> None:
    before = rows_by_description(pool, connected)
    # When the 9 % rate's revenue is set to a balance-sheet account
    result = koppel_process(koppel_env, "set", "--tax-rate", "9%", "--account", str(account))
    # Then it is refused with one sentence naming what the account is, and revenue accounts
    # of the chart, the one Visma ties to the 9 % code first; nothing is stored
    assert result.returncode == 1, result.stdout + result.stderr
    assert found in result.stderr
    assert "not a revenue account; revenue accounts of this chart: 8010 Omzet laag tarief, " in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert rows_by_description(pool, connected) == before


def test_a_vat_code_of_another_rate_is_refused_and_stored_only_with_force(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    before = rows_by_description(pool, connected)
    # When the 9 % rate is mapped to the 21 % VAT code
    refused = koppel_process(koppel_env, "set", "--tax-rate", "9%", "--vat-code", "1a")
    # Then it is refused, naming both rates, the code that fits and --force; nothing is stored
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "VAT code 1a is 21 % but tax rate '9%' is 9 %" in refused.stderr
    assert "Visma's VAT codes of 9 %: 1b." in refused.stderr
    assert "Add --force to store it all the same." in refused.stderr
    assert rows_by_description(pool, connected) == before
    # And with --force it is stored, with a warning that says so
    forced = koppel_process(koppel_env, "set", "--tax-rate", "9%", "--vat-code", "1a", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "warning: stored with --force: VAT code 1a is 21 %" in forced.stderr
    after = rows_by_description(pool, connected)
    assert (after["9%"].vat_code, after["9%"].vat_code_id) == ("1a", vat_code_id("1a"))
    assert after["9%"].revenue_account == before["9%"].revenue_account


def test_show_fits_80_columns_by_default_and_wide_and_json_hold_every_id_whole(
    pool: ConnectionPool, settings: Settings, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    # Given a tax rate with a long description, and a mapping of a rate Teamleader removed
    dataset = generated()
    nl = "0c5c7fd0-a6a3-4450-a513-270e269e0d37"
    long_name = "21% hoog tarief voor alle diensten en leveringen binnen Nederland, ook online"
    for rate in dataset["teamleader"]["taxRates"]:
        if rate["department"]["id"] == nl and rate["description"] == "21%":
            rate["description"] = long_name
    sandbox.reset(dataset)
    connected = connect_sandbox(settings, pool, name="test", sync_from=TODAY)
    gone = mappings.VatRow("removed-rate-id", Decimal("0.06"), "6%", vat_code_id("1b"), "1b", 8010)
    mappings.set_vat(pool, connected.connection.id, gone)
    stored = mappings.vat_rows(pool, connected.connection.id)
    # When the mappings are shown at 80 columns (a pipe, cron mail)
    narrow = koppel_process(koppel_env, "show", columns=80)
    # Then no line is longer than 80, every row is one line with a short id, text is cut
    assert narrow.returncode == 0, narrow.stdout + narrow.stderr
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, narrow.stdout
    for row in stored:
        assert sum(1 for line in lines if row.tax_rate_id[:8] in line) == 1, narrow.stdout
        assert row.tax_rate_id not in narrow.stdout or len(row.tax_rate_id) <= 8
    assert long_name not in narrow.stdout
    assert "6% (removed)" in narrow.stdout
    assert "--wide shows them whole" in narrow.stdout
    assert "1300 Debiteuren" in narrow.stdout
    # And --wide shows every id and text whole
    wide = koppel_process(koppel_env, "show", "--wide", columns=80)
    assert wide.returncode == 0, wide.stdout + wide.stderr
    assert long_name in wide.stdout
    assert str(connected.connection.id) in wide.stdout
    for row in stored:
        assert row.tax_rate_id in wide.stdout
    # And --json parses and holds every mapping and every tax rate of the department
    shown = koppel_process(koppel_env, "show", "--json", columns=80)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    data = json.loads(shown.stdout)
    mapped = {
        line["tax_rate_id"]: (line["vat_code_id"], line["revenue_account"], Decimal(line["rate"]))
        for line in data["vat"]
        if line["mapped"]
    }
    assert mapped == {
        row.tax_rate_id: (row.vat_code_id, row.revenue_account, row.rate) for row in stored
    }
    removed = next(line for line in data["vat"] if line["tax_rate_id"] == "removed-rate-id")
    assert removed["in_teamleader"] is False
    assert data["connection_id"] == str(connected.connection.id)
    assert data["receivables_account"] == 1300
