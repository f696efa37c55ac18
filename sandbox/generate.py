"""A realistic, deterministic data set for the simulators (``koppel sandbox --seed N``)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

Size = Literal["small", "medium", "large"]


def generate_dataset(seed: int, size: Size = "small", today: date | None = None) -> dict[str, Any]:
    """The same seed, size and day always give the same data set, byte for byte (``today``
    defaults to the simulators' today, :mod:`sandbox.clock`)."""
    from sandbox.teamleader.generate import generate_teamleader

    # Visma starts as the default Dutch company with no customers: Koppel creates them.
    return {"teamleader": generate_teamleader(seed, size), "visma": {}}
