"""The messages producers publish and consumers accept, version 1.

A message is a hint with an identity and a version, not a copy of the document: the
consumer reads the current document from the API, so a stale or repeated message can do no
harm. Every message carries its connection. The dedupe key is the business identity plus
version (never Dramatiq's message id): a re-polled, unchanged document gets the same key.

Messages travel as JSON objects (one positional argument of the actor). Money is a string
in JSON and ``Decimal`` here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.errors import NeedsPerson
from contracts import queues

TeamleaderId = Annotated[str, Field(min_length=1, max_length=100)]


class SyncMessage(BaseModel):
    """Fields every message has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Bumped when a field changes meaning; consumers refuse versions they do not know.
    schema_version: Literal[1] = 1
    connection_id: uuid.UUID

    queue: ClassVar[str]
    document_type: ClassVar[str]

    @property
    def document_id(self) -> str:
        raise NotImplementedError

    @property
    def version(self) -> str:
        raise NotImplementedError

    @property
    def dedupe_key(self) -> str:
        parts = (self.queue, self.connection_id, self.document_type, self.document_id, self.version)
        return ":".join(str(part) for part in parts)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class CustomerChanged(SyncMessage):
    """A Teamleader contact or company was added or changed."""

    queue: ClassVar[str] = queues.CONTACTS
    document_type: ClassVar[str] = "customer"

    kind: Literal["contact", "company"]
    teamleader_id: TeamleaderId
    updated_at: datetime

    @property
    def document_id(self) -> str:
        return f"{self.kind}:{self.teamleader_id}"

    @property
    def version(self) -> str:
        return self.updated_at.isoformat()


class _DocumentChanged(SyncMessage):
    """A Teamleader document, identified by id and versioned by its ``updated_at``."""

    teamleader_id: TeamleaderId
    updated_at: datetime

    @property
    def document_id(self) -> str:
        return self.teamleader_id

    @property
    def version(self) -> str:
        return self.updated_at.isoformat()


class InvoiceChanged(_DocumentChanged):
    """A booked Teamleader invoice (outstanding or matched) was booked or changed."""

    queue: ClassVar[str] = queues.INVOICES
    document_type: ClassVar[str] = "invoice"


class CreditNoteChanged(_DocumentChanged):
    """A Teamleader credit note was booked or changed."""

    queue: ClassVar[str] = queues.CREDIT_NOTES
    document_type: ClassVar[str] = "credit_note"


class PaymentObserved(SyncMessage):
    """A Visma customer ledger item Koppel posted changed: maybe (part of) it was paid."""

    queue: ClassVar[str] = queues.PAYMENTS
    document_type: ClassVar[str] = "payment"

    visma_ledger_item_id: Annotated[str, Field(min_length=1, max_length=100)]
    #: What Visma said was still open, in the invoice currency, when the poller looked.
    remaining_amount: Decimal
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    modified_utc: datetime

    @property
    def document_id(self) -> str:
        return self.visma_ledger_item_id.lower()

    @property
    def version(self) -> str:
        # The remaining amount is the version: the same amount seen twice is one change.
        return f"{self.remaining_amount.normalize():f}"


#: Queue → the message type it carries.
BY_QUEUE: dict[str, type[SyncMessage]] = {
    m.queue: m for m in (CustomerChanged, InvoiceChanged, CreditNoteChanged, PaymentObserved)
}


class MalformedMessage(NeedsPerson):
    """A message that does not fit its schema: dead-lettered at once with this reason."""

    def __init__(self, queue: str, reason: str) -> None:
        super().__init__(f"malformed message on {queue}: {reason}")
        self.queue = queue
        self.reason = reason


def parse(queue: str, payload: object) -> SyncMessage:
    """Validate a payload against its queue's schema, or raise :class:`MalformedMessage`."""
    model = BY_QUEUE[queue]
    if not isinstance(payload, dict):
        raise MalformedMessage(queue, f"expected a JSON object, got {type(payload).__name__}")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in error.errors()
        )
        raise MalformedMessage(queue, problems) from error
