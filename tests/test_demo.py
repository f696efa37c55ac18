"""The main job, as the README's first command runs it, on its own ports."""

from __future__ import annotations

from decimal import Decimal

from clients.sandbox_grant import authorize_without_browser
from clients.teamleader import TeamleaderClient, teamleader_oauth_app
from clients.tokens import MemoryTokenStore
from clients.visma import VismaClient, visma_oauth_app
from config import Settings
from ops.overview import gather, status_counts
from sandbox.generate import generate_dataset
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker


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
