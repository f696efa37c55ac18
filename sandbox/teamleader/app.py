"""The Teamleader Focus simulator over HTTP: OAuth2, the RPC API, webhooks and sandbox
controls, with fault injection in front (the simulator itself is ``simulator.py``)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.faults import FaultInjector
from sandbox.options import SandboxOptions
from sandbox.ratelimit import Verdict
from sandbox.teamleader import controls
from sandbox.teamleader.http import error_body
from sandbox.teamleader.simulator import CALLS_PER_WINDOW, Simulator, rate_limit_headers


def endpoint_of(method: str, path: str) -> str:
    """``/invoices.list`` → ``invoices.list``; OAuth paths keep their path."""
    name = path.strip("/")
    return name.replace("/", ".") if name else "(root)"


def burst_429(retry_after_s: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = rate_limit_headers(Verdict(False, CALLS_PER_WINDOW, 0, float(retry_after_s)))
    return 429, error_body(429, "Too Many Requests"), headers


def create_app(dataset: dict[str, Any], options: SandboxOptions) -> ASGIApp:
    sim = Simulator(dataset, options)
    app = Starlette(
        routes=[
            Route("/oauth2/authorize", sim.authorize, methods=["GET"]),
            Route("/oauth2/access_token", sim.access_token, methods=["POST"]),
            *controls.routes(sim),
            Route("/{endpoint}", sim.rpc, methods=["POST"]),
        ]
    )
    app.state.simulator = sim
    return FaultInjector(
        app,
        error_body=lambda status: error_body(
            status, "Service unavailable" if status >= 500 else "Error"
        ),
        rate_limit_body=burst_429,
        endpoint_of=endpoint_of,
        seed=options.fault_seed,
    )
