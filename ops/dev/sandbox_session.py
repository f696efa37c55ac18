"""Run the simulators as a child process for the length of a command (``koppel demo``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from config import Settings


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
