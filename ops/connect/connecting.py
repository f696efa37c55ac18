"""Creating a connection: authorise both services, pick the department, store it all.

The interactive command (``koppel connect``) and the demo both end here, with a token pair
per service in hand; only how the pairs were obtained differs (browser vs. sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clients.sandbox_grant import authorize_without_browser
from clients.teamleader import TeamleaderClient, teamleader_oauth_app
from clients.teamleader.models import Department, TaxRate
from clients.tokens import MemoryTokenStore, TokenPair
from clients.visma import VismaClient, visma_oauth_app
from config import Settings
from config.errors import NeedsPerson
from ops.mappings.proposal import propose, store_missing
from store import connections, mappings
from store.connections import Connection
from store.db import Pool
from store.token_store import PgTokenStore


class ConnectError(NeedsPerson):
    """Connecting cannot go on; the message says why and what to do."""


def missing_oauth_settings(settings: Settings) -> list[str]:
    """The ``KOPPEL_*`` client id/secret variables a live connection needs that are empty."""
    values = {
        "KOPPEL_TEAMLEADER_CLIENT_ID": settings.teamleader_client_id,
        "KOPPEL_TEAMLEADER_CLIENT_SECRET": settings.teamleader_client_secret.get_secret_value(),
        "KOPPEL_VISMA_CLIENT_ID": settings.visma_client_id,
        "KOPPEL_VISMA_CLIENT_SECRET": settings.visma_client_secret.get_secret_value(),
    }
    return [name for name, value in values.items() if not value.strip()]


@dataclass(frozen=True)
class Connected:
    connection: Connection
    department: Department
    visma_company: str
    mapped: list[mappings.VatRow]
    unmapped: list[TaxRate]


def pick_department(
    departments: list[Department], wanted: str | None, visma_country: str | None
) -> Department:
    """By id or name when asked; else the only one, else the one in Visma's country."""
    active = [d for d in departments if (d.status or "active") == "active"] or departments
    if wanted:
        for department in active:
            if wanted in (department.id, department.name):
                return department
        names = ", ".join(f"{d.name} ({d.id})" for d in active)
        raise ConnectError(f"no Teamleader department {wanted!r}; there are: {names}")
    if len(active) == 1:
        return active[0]
    same_country = [
        d for d in active if d.address and (d.address.country or "").upper() == visma_country
    ]
    if same_country:
        return sorted(same_country, key=lambda d: d.name or "")[0]
    if not active:
        raise ConnectError("the Teamleader account has no departments")
    return sorted(active, key=lambda d: d.name or "")[0]


def connect_with_tokens(
    settings: Settings,
    pool: Pool,
    *,
    name: str,
    sandbox: bool,
    teamleader_tokens: TokenPair,
    visma_tokens: TokenPair,
    sync_from: date,
    department: str | None = None,
    poll_interval_s: int | None = None,
) -> Connected:
    """Store a connection and its tokens, and propose VAT mappings from Visma's chart."""
    api_settings = settings.use_sandbox() if sandbox else settings
    probe_id = f"connect:{name}"
    # Probing may refresh a token; the stores keep the newest pair for saving below.
    teamleader_store = MemoryTokenStore(teamleader_tokens)
    visma_store = MemoryTokenStore(visma_tokens)
    with (
        TeamleaderClient(api_settings, teamleader_store, probe_id) as tl,
        VismaClient.from_settings(api_settings, visma_store, connection_id=probe_id) as visma,
    ):
        user = tl.me()
        company = visma.company_settings()
        chosen = pick_department(tl.departments(), department, company.CountryCode.upper())
        tax_rates = tl.tax_rates(chosen.id)
        vat_codes = visma.vat_codes()
        accounts = visma.accounts()
    connection = connections.create(
        pool,
        name=name,
        sandbox=sandbox,
        teamleader_account_id=user.account.id if user.account else None,
        teamleader_department_id=chosen.id,
        visma_company_id=None,
        sync_from=sync_from,
        poll_interval_s=int(poll_interval_s or settings.poll_interval_s),
        default_terms_of_payment_id=company.TermsOfPaymentId,
    )
    key = settings.token_key.get_secret_value()
    PgTokenStore(pool, connection.id, "teamleader", key).save(teamleader_store.load())
    PgTokenStore(pool, connection.id, "visma", key).save(visma_store.load())
    proposed, unmapped = propose(tax_rates, vat_codes, accounts)
    store_missing(pool, connection.id, proposed)  # never overwrites what a person set
    return Connected(connection, chosen, company.Name, proposed, unmapped)


def connect_sandbox(
    settings: Settings,
    pool: Pool,
    *,
    name: str = "sandbox",
    sync_from: date,
    department: str | None = None,
    teamleader_account: str | None = None,
    visma_company: str | None = None,
    poll_interval_s: int | None = None,
) -> Connected:
    """Run the authorization-code flow against both simulators (no questions asked)."""
    api_settings = settings.use_sandbox()
    teamleader_params = {"account": teamleader_account} if teamleader_account else {}
    visma_params = {"company": visma_company} if visma_company else {}
    return connect_with_tokens(
        settings,
        pool,
        name=name,
        sandbox=True,
        teamleader_tokens=authorize_without_browser(
            teamleader_oauth_app(api_settings), **teamleader_params
        ),
        visma_tokens=authorize_without_browser(visma_oauth_app(api_settings), **visma_params),
        sync_from=sync_from,
        department=department,
        poll_interval_s=poll_interval_s,
    )
