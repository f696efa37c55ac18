"""How a simulator is configured when it starts (not part of either API)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxOptions:
    #: The OAuth client both simulators accept.
    client_id: str = "koppel-sandbox"
    client_secret: str = "koppel-sandbox-secret"
    #: Multiplies every time window of the simulated rate limits (0.1: a minute is 6 s).
    time_scale: float = 1.0
    #: Whether the simulated rate limits are enforced at all (the cost benchmark turns
    #: them off).
    rate_limits: bool = True
    #: Seed for fault injection's coin flips, so a faulty run can be repeated.
    fault_seed: int = 0
