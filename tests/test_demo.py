"""The main job, as the README's first command runs it, on its own ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal

from clients.sandbox_grant import authorize_without_browser
from clients.teamleader import TeamleaderClient, teamleader_oauth_app
from clients.tokens import MemoryTokenStore
from clients.visma import VismaClient, visma_oauth_app
from config import Settings
from ops.overview import gather, status_counts
from sandbox.generate import generate_dataset
from tests.conftest import ROOT, Sandbox, free_port
from tests.spec_check import SpecChecker


def test_the_demo_shows_through_the_clients_exactly_what_the_generated_data_holds() -> None:
    # Given the data set that seed 2 generates
    expected = generate_dataset(2, "small")["teamleader"]
    invoices = len(expected["invoices"])
    credit_notes = len(expected["creditNotes"])
    customers = len(expected["contacts"]) + len(expected["companies"])
    # When the demo runs the simulators with that seed and reads them through the clients
    env = {
        **os.environ,
        "KOPPEL_SANDBOX_TEAMLEADER_PORT": str(free_port()),
        "KOPPEL_SANDBOX_VISMA_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--seed", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it succeeds and its closing line counts what Teamleader and Visma hold
    assert result.returncode == 0, result.stderr
    closing = [line for line in result.stdout.splitlines() if line.startswith("demo:")]
    assert closing, result.stdout
    match = re.search(
        r"Teamleader holds (\d+) invoices .* (\d+) credit notes, (\d+) customers; "
        r"Visma holds (\d+) accounts and 0 ledger items",
        closing[-1],
    )
    assert match, closing[-1]
    assert [int(g) for g in match.groups()[:3]] == [invoices, credit_notes, customers]
    assert int(match.group(4)) > 0


def test_the_overview_reads_every_document_through_spec_checked_clients(
    sandbox: Sandbox, teamleader_spec: SpecChecker, visma_spec: SpecChecker
) -> None:
    # Given the simulators loaded with the data set that seed 3 generates
    dataset = generate_dataset(3, "small")
    sandbox.reset(dataset)
    sandbox_settings = (
        Settings()
        .use_sandbox()
        .model_copy(
            update={
                "teamleader_auth_url": sandbox.teamleader_url,
                "teamleader_api_url": sandbox.teamleader_url,
                "visma_auth_url": sandbox.visma_url,
                "visma_api_url": sandbox.visma_api_url,
            }
        )
    )
    teamleader = TeamleaderClient(
        sandbox_settings,
        MemoryTokenStore(authorize_without_browser(teamleader_oauth_app(sandbox_settings))),
        "overview",
        event_hooks=teamleader_spec.hooks(),
    )
    visma = VismaClient.from_settings(
        sandbox_settings,
        MemoryTokenStore(authorize_without_browser(visma_oauth_app(sandbox_settings))),
        connection_id="overview",
        event_hooks=visma_spec.hooks(),
    )
    # When the demo's overview is gathered
    with teamleader, visma:
        overview = gather(teamleader, visma)
    # Then it holds exactly the data set, to the cent, and every exchange fit the descriptions
    invoices = dataset["teamleader"]["invoices"]
    assert sum(status_counts(overview).values()) == len(invoices)
    expected_eur = sum(
        (
            Decimal(str(i["total"]["tax_inclusive"]["amount"]))
            for i in invoices
            if i["currency"] == "EUR"
        ),
        Decimal(0),
    )
    seen_eur = sum(
        (
            t.tax_inclusive.get("EUR", Decimal(0))
            for d in overview.departments
            for t in d.invoices_by_status.values()
        ),
        Decimal(0),
    )
    assert seen_eur == expected_eur
    assert overview.visma.ledger_items == 0
    assert overview.missing_accounts.keys() == {"Koppel Demo BV (België)"}
    assert teamleader_spec.checked > 0 and visma_spec.checked > 0
