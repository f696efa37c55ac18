"""``koppel connect sandbox | live``: link a Teamleader department to a Visma company.

``sandbox`` authorises against the local simulators without a browser. ``live`` runs the
OAuth2 authorization-code flow a person completes in a browser: Teamleader first, then
Visma; the redirect arrives at ``KOPPEL_REDIRECT_URI`` on this machine
(:mod:`ops.connect.oauth_callback`) or, with ``--paste``, is pasted back into the terminal.
Both end in :func:`ops.connect.connecting.connect_with_tokens` and print what was stored.
"""

from __future__ import annotations

from datetime import date, datetime

import click
import httpx

from clients.errors import ReauthorizationNeeded
from clients.oauth import OAuthApp, code_from_redirect
from clients.teamleader import teamleader_oauth_app
from clients.tokens import TokenPair
from clients.visma import visma_oauth_app
from config import Settings, get_settings
from config import clock as calendar
from ops.connect.connecting import (
    Connected,
    connect_sandbox,
    connect_with_tokens,
    missing_oauth_settings,
)
from ops.connect.oauth_callback import CallbackError, CallbackServer
from ops.console import new_console
from ops.mappings.view import print_unmapped, rows_table
from store import mappings
from store.db import Pool, open_pool
from store.token_store import cipher

#: How long ``connect live`` waits for the browser's redirect, per service (seconds).
DEFAULT_CALLBACK_TIMEOUT_S = 300.0


def first_of_this_month() -> date:
    return calendar.today().replace(day=1)


def _since(value: datetime | None) -> date:
    return value.date() if value else first_of_this_month()


def _check_token_key(settings: Settings) -> None:
    # Before anything is stored or a browser opened: without the key nothing can be saved.
    cipher(settings.token_key.get_secret_value())


name_help = "A name for the connection (connecting again under it updates it)."
since_option = click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Sync documents changed from this day on (YYYY-MM-DD; default: the 1st of this month).",
)
department_option = click.option(
    "--department",
    default=None,
    help="Teamleader department name or id (default: the only one, or the one in Visma's country).",
)
poll_option = click.option(
    "--poll-interval-s",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds between polls of this connection (default: KOPPEL_POLL_INTERVAL_S).",
)


@click.group("connect")
def connect_command() -> None:
    """Link a Teamleader department to a Visma company."""


@connect_command.command("sandbox")
@click.option("--name", default="sandbox", show_default=True, help=name_help)
@since_option
@department_option
@poll_option
def connect_sandbox_command(
    name: str, since: datetime | None, department: str | None, poll_interval_s: int | None
) -> None:
    """Connect to the local simulators (start them with `koppel sandbox`)."""
    settings = get_settings()
    _check_token_key(settings)
    with open_pool(settings, name="koppel-connect") as pool:
        try:
            connected = connect_sandbox(
                settings,
                pool,
                name=name,
                sync_from=_since(since),
                department=department,
                poll_interval_s=poll_interval_s,
            )
        except httpx.TransportError as error:
            sandbox = settings.use_sandbox()
            raise click.ClickException(
                f"the sandbox simulators do not answer at {sandbox.teamleader_auth_url} and "
                f"{sandbox.visma_auth_url} ({error}); start them with `koppel sandbox`"
            ) from error
        report(connected, pool)


@connect_command.command("live")
@click.option("--name", default="live", show_default=True, help=name_help)
@since_option
@department_option
@poll_option
@click.option(
    "--paste",
    is_flag=True,
    help="Paste the address the browser was redirected to, instead of receiving it here.",
)
@click.option(
    "--timeout-s",
    type=click.FloatRange(min=1),
    default=DEFAULT_CALLBACK_TIMEOUT_S,
    show_default=True,
    help="How long to wait for each service's redirect.",
)
def connect_live_command(
    name: str,
    since: datetime | None,
    department: str | None,
    poll_interval_s: int | None,
    paste: bool,
    timeout_s: float,
) -> None:
    """Authorise Koppel at Teamleader and Visma in a browser, and store the connection."""
    settings = get_settings()
    missing = missing_oauth_settings(settings)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise click.ClickException(
            f"{', '.join(missing)} {verb} not set: register Koppel as an integration at "
            "Teamleader (marketplace.teamleader.eu) and Visma (Visma Developer Portal) with "
            f"the redirect URI {settings.redirect_uri}, and set their client ids and secrets."
        )
    _check_token_key(settings)
    # Opened first, so a database that is down stops us before anyone opens a browser.
    with open_pool(settings, name="koppel-connect") as pool:
        teamleader_tokens = authorise(
            teamleader_oauth_app(settings), "Teamleader", paste=paste, timeout_s=timeout_s
        )
        visma_tokens = authorise(
            visma_oauth_app(settings), "Visma eAccounting", paste=paste, timeout_s=timeout_s
        )
        connected = connect_with_tokens(
            settings,
            pool,
            name=name,
            sandbox=False,
            teamleader_tokens=teamleader_tokens,
            visma_tokens=visma_tokens,
            sync_from=_since(since),
            department=department,
            poll_interval_s=poll_interval_s,
        )
        report(connected, pool)


def authorise(app: OAuthApp, label: str, *, paste: bool, timeout_s: float) -> TokenPair:
    """One authorization-code grant: print the URL, receive the redirect, check, exchange
    (with the PKCE verifier where the service takes PKCE)."""
    request = app.start_authorization()
    url = request.url
    try:
        if paste:
            click.echo(f"Open this address in a browser and authorise Koppel at {label}:\n")
            click.echo(f"  {url}\n")
            redirect = click.prompt(
                f"Then paste the address {label} sent the browser to "
                f"(it starts with {app.redirect_uri})"
            )
        else:
            with CallbackServer(app.redirect_uri, request.state) as server:
                click.echo(
                    f"Open this address in a browser on this machine and authorise Koppel at "
                    f"{label} (waiting up to {timeout_s:g} s for {app.redirect_uri}):\n"
                )
                click.echo(f"  {url}\n")
                redirect = server.wait(
                    timeout_s,
                    on_refused=lambda: click.echo(
                        f"{label}: a redirect with another state arrived and was refused; "
                        "still waiting for this one.",
                        err=True,
                    ),
                )
        code = code_from_redirect(redirect.strip(), request.state)
    except CallbackError as error:
        raise click.ClickException(f"{label}: {error}") from error
    except ReauthorizationNeeded as error:
        raise click.ClickException(
            f"{label}: {error.reason}; run `koppel connect live` again"
        ) from error
    pair = app.exchange_code(code, request.code_verifier)
    click.echo(f"{label}: authorised.")
    return pair


def report(connected: Connected, pool: Pool) -> None:
    """What was stored: the connection, both sides, the VAT mappings and what is unmapped."""
    connection = connected.connection
    department = connected.department
    out = new_console()
    out.print(
        f"Connection {connection.name} ({connection.id}"
        f"{', sandbox' if connection.sandbox else ''}): syncing from {connection.sync_from}, "
        f"polling every {connection.poll_interval_s} s",
        style="bold",
    )
    out.print(f"Teamleader department: {department.name} ({department.id})")
    out.print(f"Visma company: {connected.visma_company}")
    # The stored rows, not only the proposal: a person's earlier choices were kept.
    stored = mappings.vat_rows(pool, connection.id)
    out.print(rows_table(stored))
    mapped = {row.tax_rate_id for row in stored}
    print_unmapped(out, connection.name, [r for r in connected.unmapped if r.id not in mapped])
