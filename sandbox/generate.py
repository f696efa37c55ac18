"""A realistic, deterministic data set for the simulators (``koppel sandbox --seed N``)."""

from __future__ import annotations

from typing import Any, Literal

Size = Literal["small", "medium", "large"]


def generate_dataset(seed: int, size: Size = "small") -> dict[str, Any]:
    """The same seed and size always give the same data set, byte for byte."""
    from sandbox.teamleader.generate import generate_teamleader

    # Visma starts as the default Dutch company with no customers: Koppel creates them.
    return {"teamleader": generate_teamleader(seed, size), "visma": {}}
