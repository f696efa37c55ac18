"""Start the simulators as a child process and authorise clients against them.

Used by ``koppel demo`` (and later by ``koppel connect sandbox``): the sandbox approves an
authorisation at once, so the whole OAuth2 authorization-code flow runs without a browser —
the same flow, over the same HTTP, that a person completes against the real services.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from clients.oauth import OAuthApp, code_from_redirect
from clients.tokens import TokenPair
from config import Settings


def authorize_without_browser(app: OAuthApp, **sandbox_params: str) -> TokenPair:
    """Follow the sandbox's instant approval and exchange the code for a token pair."""
    state = secrets.token_urlsafe(16)
    url = app.authorization_url(state)
    if sandbox_params:
        url += "&" + "&".join(f"{k}={v}" for k, v in sandbox_params.items())
    response = httpx.get(url, follow_redirects=False, timeout=app.timeout_s)
    if response.status_code not in (302, 303):
        raise RuntimeError(
            f"{app.service} did not redirect from {app.authorize_url} "
            f"(HTTP {response.status_code}): {response.text[:200]}"
        )
    code = code_from_redirect(response.headers["location"], state)
    return app.exchange_code(code)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@contextmanager
def running_sandbox(settings: Settings, *args: str, timeout_s: float = 30.0) -> Iterator[None]:
    """Run ``koppel sandbox`` on the configured ports for the duration of the block."""
    host, ports = (
        settings.sandbox_host,
        (
            settings.sandbox_teamleader_port,
            settings.sandbox_visma_port,
        ),
    )
    busy = [port for port in ports if _listening(host, port)]
    if busy:
        raise RuntimeError(
            f"port(s) {busy} on {host} are already in use; stop what listens there or set "
            "KOPPEL_SANDBOX_TEAMLEADER_PORT / KOPPEL_SANDBOX_VISMA_PORT"
        )
    command = [
        sys.executable,
        "-m",
        "ops.cli",
        "sandbox",
        "--host",
        host,
        "--teamleader-port",
        str(ports[0]),
        "--visma-port",
        str(ports[1]),
        *args,
    ]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + timeout_s
        while not all(_listening(host, port) for port in ports):
            if process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not listen within {timeout_s} s")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
