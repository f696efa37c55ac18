"""How this Visma simulator behaves where Visma's documentation leaves a choice open.

Each mode is one reading of something the public sources do not settle (ASSUMPTIONS.md,
"Modes"); the default is the reading Visma's documentation supports best. Tests switch
them through ``PUT /_sandbox/modes`` (partial JSON; ``GET`` shows them), and
``POST /_sandbox/reset`` puts the defaults back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

from sandbox.visma.filterable import FILTERABLE

#: ``rate_limit_scope`` values: one budget per OAuth client and endpoint across companies
#: (Visma: "counted per client and per endpoint/URL"), or one per client × company.
APPLICATION = "application"
COMPANY = "company"

#: ``error_shape`` values: field errors as ``Errors[]`` (the description's
#: ``CommonExtendedBadRequest``) or as an ``ErrorMessages`` map ``{field: [message]}``.
ERRORS_LIST = "Errors"
ERROR_MESSAGES_MAP = "ErrorMessages"


@dataclass(frozen=True)
class Modes:
    rate_limit_scope: str = APPLICATION
    #: The largest ``$pagesize`` answered; more is refused with 6000. Visma's is not
    #: documented; a third-party client caps at 200, so the simulator does too.
    max_page_size: int = 200
    error_shape: str = ERRORS_LIST
    #: Whether a second ledger item with an ``InvoiceNumber`` already used is accepted.
    duplicate_invoice_numbers: bool = False
    #: A new ledger item shows up in list answers only this many seconds after its
    #: creation (GET by id sees it at once): a read replica behind the primary.
    list_delay_s: float = 0.0
    #: Whether registering a payment moves the ledger item's ``ModifiedUtc``.
    payments_touch_modified: bool = True
    #: Endpoint (``/v2/customers``) → the properties ``$filter`` accepts there.
    filterable: dict[str, list[str]] = field(default_factory=lambda: dict(FILTERABLE))

    def changed(self, body: dict[str, Any]) -> Modes:
        """These modes with ``body``'s values; ValueError names an unknown or wrong one."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown modes {unknown}; known: {sorted(known)}")
        if isinstance(body.get("list_delay_s"), Decimal):  # the controls read numbers so
            body = {**body, "list_delay_s": float(body["list_delay_s"])}
        updated = replace(self, **body)
        if updated.rate_limit_scope not in (APPLICATION, COMPANY):
            raise ValueError(f"rate_limit_scope must be '{APPLICATION}' or '{COMPANY}'")
        if updated.error_shape not in (ERRORS_LIST, ERROR_MESSAGES_MAP):
            raise ValueError(f"error_shape must be '{ERRORS_LIST}' or '{ERROR_MESSAGES_MAP}'")
        if not isinstance(updated.max_page_size, int) or updated.max_page_size < 1:
            raise ValueError("max_page_size must be a whole number of 1 or more")
        if not isinstance(updated.list_delay_s, (int, float)) or updated.list_delay_s < 0:
            raise ValueError("list_delay_s must be 0 or more (seconds)")
        if "filterable" in body:
            if not isinstance(body["filterable"], dict):
                raise ValueError("filterable must map an endpoint to a list of properties")
            updated = replace(updated, filterable={**self.filterable, **body["filterable"]})
        return updated

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
