"""For development and demonstration: ``koppel demo`` and ``koppel sandbox`` (the simulators)."""
