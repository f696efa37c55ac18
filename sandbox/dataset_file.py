"""Loading a sandbox data set from a JSON file, checked before any server starts.

The file's shape::

    {"teamleader": {"departments": [], "taxRates": [], "productCategories": [],
                    "paymentMethods": [], "contacts": [], "companies": [],
                    "invoices": [], "creditNotes": []},
     "visma": {"companysettings": {}, "fiscalyears": [], "accounts": [], "vatcodes": [],
               "termsofpayments": [], "customers": []}}

Each Teamleader item is the object its ``.info`` returns (tax rates, product categories and
payment methods: the ``.list`` item); each Visma item is what its GET returns. Every key is
optional; a Visma part that leaves a key out gets the default Dutch company's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.dataset_error import DatasetError
from sandbox.teamleader.dataset import validate_teamleader
from sandbox.visma.dataset import validate_visma

__all__ = ["DatasetError", "load_dataset", "validate_dataset"]

TOP_LEVEL_KEYS = ("teamleader", "visma")


def validate_dataset(data: Any) -> dict[str, Any]:
    """Check a whole data set; return it with both parts present (possibly empty)."""
    if not isinstance(data, dict):
        raise DatasetError("(file)", "(root)", "must be a JSON object")
    unknown = set(data) - set(TOP_LEVEL_KEYS)
    if unknown:
        raise DatasetError("(file)", sorted(unknown)[0], "unknown key; expected teamleader, visma")
    teamleader = data.get("teamleader") or {}
    visma = data.get("visma") or {}
    validate_teamleader(teamleader)
    validate_visma(visma)
    return {"teamleader": teamleader, "visma": visma}


def load_dataset(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(str(path), f"line {exc.lineno}", f"not JSON: {exc.msg}") from exc
    return validate_dataset(raw)
