"""The Visma eAccounting simulator as one ASGI app (API under ``/v2``, OAuth under ``/connect``).

``create_app`` returns the app wrapped in :class:`sandbox.faults.FaultInjector`, so fault
plans and call statistics work as for the Teamleader simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.faults import FaultInjector
from sandbox.options import SandboxOptions
from sandbox.ratelimit import SlidingWindow
from sandbox.visma import controls, customers, invoices, ledger_items, oauth, reference, vouchers
from sandbox.visma.errors import INTERNAL_SERVER_ERROR, RESOURCE_NOT_FOUND, error_body
from sandbox.visma.gate import (
    CALLS_PER_WINDOW,
    WINDOW_S,
    api,
    endpoint_of,
    fault_error_body,
    rate_limit_body,
)
from sandbox.visma.jsonio import JsonResponse
from sandbox.visma.modes import Modes
from sandbox.visma.state import Companies


@dataclass
class Simulator:
    """Everything the handlers share (``request.app.state.sim``)."""

    companies: Companies
    tokens: oauth.TokenIssuer
    options: SandboxOptions
    rate_window: SlidingWindow = field(init=False)
    #: Where Visma's documentation leaves a choice open (sandbox/visma/modes.py).
    modes: Modes = field(default_factory=Modes)

    def __post_init__(self) -> None:
        self.clear_rate_limits()

    def clear_rate_limits(self) -> None:
        self.rate_window = SlidingWindow(CALLS_PER_WINDOW, WINDOW_S * self.options.time_scale)


def _routes() -> list[Route]:
    v2 = "/v2"
    return [
        Route("/connect/authorize", oauth.authorize, methods=["GET"]),
        Route("/connect/token", oauth.token, methods=["POST"]),
        Route(f"{v2}/customers", api(customers.list_customers), methods=["GET"]),
        Route(f"{v2}/customers", api(customers.create_customer), methods=["POST"]),
        Route(f"{v2}/customers/{{customerId}}", api(customers.get_customer), methods=["GET"]),
        Route(f"{v2}/customers/{{customerId}}", api(customers.update_customer), methods=["PUT"]),
        Route(
            f"{v2}/customerledgeritems/customerledgeritemswithvoucher",
            api(ledger_items.create_ledger_item_with_voucher),
            methods=["POST"],
        ),
        Route(f"{v2}/customerledgeritems", api(ledger_items.list_ledger_items), methods=["GET"]),
        Route(
            f"{v2}/customerledgeritems/{{customerLedgerItemId}}",
            api(ledger_items.get_ledger_item),
            methods=["GET"],
        ),
        Route(f"{v2}/vouchers", api(vouchers.list_vouchers), methods=["GET"]),
        Route(
            f"{v2}/vouchers/{{fiscalyearId}}/{{voucherId}}",
            api(vouchers.get_voucher),
            methods=["GET"],
        ),
        Route(f"{v2}/accounts", api(reference.list_accounts), methods=["GET"]),
        Route(
            f"{v2}/accounts/{{fiscalyearId}}", api(reference.list_accounts_of_year), methods=["GET"]
        ),
        Route(f"{v2}/vatcodes", api(reference.list_vat_codes), methods=["GET"]),
        Route(f"{v2}/fiscalyears", api(reference.list_fiscal_years), methods=["GET"]),
        Route(f"{v2}/termsofpayments", api(reference.list_terms_of_payment), methods=["GET"]),
        Route(f"{v2}/companysettings", api(reference.get_company_settings), methods=["GET"]),
        Route(f"{v2}/customerinvoices", api(invoices.list_invoices), methods=["GET"]),
        Route(f"{v2}/customerinvoices", api(invoices.create_invoice), methods=["POST"]),
        Route(f"{v2}/customerinvoices/{{invoiceId}}", api(invoices.get_invoice), methods=["GET"]),
        Route("/_sandbox/reset", controls.reset, methods=["POST"]),
        Route("/_sandbox/companies", controls.add_company, methods=["POST"]),
        Route("/_sandbox/tokens/expire", controls.expire_tokens, methods=["POST"]),
        Route(
            "/_sandbox/customerledgeritems/{itemId}/payments",
            controls.register_payment,
            methods=["POST"],
        ),
        Route("/_sandbox/summary", controls.summary, methods=["GET"]),
        Route("/_sandbox/modes", controls.get_modes, methods=["GET"]),
        Route("/_sandbox/modes", controls.set_modes, methods=["PUT"]),
        Route("/_sandbox/accountinglock", controls.set_accounting_lock, methods=["POST"]),
        Route("/_sandbox/vies", controls.set_vies, methods=["POST"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = f"{request.method} {request.url.path}: {getattr(exc, 'detail', 'error')}"
    return JsonResponse(error_body(RESOURCE_NOT_FOUND, message), status_code=status)


async def _server_error(request: Request, exc: Exception) -> Response:
    body = error_body(INTERNAL_SERVER_ERROR, f"Internal error: {type(exc).__name__}: {exc}")
    return JsonResponse(body, status_code=500)


def create_app(dataset: dict[str, Any], options: SandboxOptions) -> ASGIApp:
    """The simulator serving ``dataset`` (a Visma data set part) as the default company."""
    app = Starlette(
        routes=_routes(),
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.sim = Simulator(
        companies=Companies(dataset),
        tokens=oauth.TokenIssuer(options.client_id, options.client_secret),
        options=options,
    )
    return FaultInjector(
        app,
        error_body=fault_error_body,
        rate_limit_body=rate_limit_body,
        endpoint_of=endpoint_of,
        seed=options.fault_seed,
    )
