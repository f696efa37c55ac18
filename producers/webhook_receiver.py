"""The receiver of Teamleader's webhooks: an event becomes a poke for the poller.

Teamleader POSTs ``{"subject": {"type", "id"}, "type": "invoice.booked", "account": ...}``
to the URL registered for a connection (``koppel webhooks register``); it signs nothing
(docs/api-facts.md, Teamleader §8), so the URL carries the proof:
``/teamleader/<connection id>/<token>``, the token an HMAC of the connection id under
``KOPPEL_TOKEN_KEY``. Nobody without the key can
make one, and a wrong one is answered like an unknown connection.

The event itself is not trusted with data: it only says *poll this stream of this
connection now* (``producers/pokes.py``). The poller then reads the change through the same
cursors and dedupe keys as every other round, so a duplicated, forged-but-valid, or
out-of-order event can cause at most an extra poll, never a second posting.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts.streams import COMPANIES, CONTACTS, CREDIT_NOTES, INVOICES
from producers.pokes import poke
from store import connections
from store.db import Pool

logger = logging.getLogger(__name__)

#: The event types Koppel registers and acts on: what changes an invoice, a credit note or a
#: customer that Visma has (payments flow the other way, from Visma), and the poller's
#: stream that reads each.
STREAM_OF_EVENT = {
    "invoice.booked": INVOICES,
    "invoice.updated": INVOICES,
    "creditNote.booked": CREDIT_NOTES,
    "creditNote.updated": CREDIT_NOTES,
    "contact.added": CONTACTS,
    "contact.updated": CONTACTS,
    "company.added": COMPANIES,
    "company.updated": COMPANIES,
}
EVENT_TYPES = tuple(STREAM_OF_EVENT)
#: The largest event body read (bytes); Teamleader's are a few hundred.
MAX_BODY_BYTES = 64 * 1024


class Subject(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    id: str


class TeamleaderEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    subject: Subject


def webhook_token(token_key: str, connection_id: uuid.UUID) -> str:
    """The secret part of a connection's webhook URL (hex, 32 characters)."""
    digest = hmac.new(token_key.encode(), b"koppel-webhook:" + connection_id.bytes, hashlib.sha256)
    return digest.hexdigest()[:32]


def webhook_path(token_key: str, connection_id: uuid.UUID) -> str:
    return f"/teamleader/{connection_id}/{webhook_token(token_key, connection_id)}"


def create_app(pool: Pool, token_key: str) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        try:
            connection_id = uuid.UUID(request.path_params["connection_id"])
        except ValueError:
            return _unknown()
        expected = webhook_token(token_key, connection_id)
        if not hmac.compare_digest(expected, str(request.path_params["token"])):
            return _unknown()
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            event = TeamleaderEvent.model_validate_json(body)
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in invalid.errors(include_url=False, include_input=False)
            )
            return JSONResponse({"error": f"not a Teamleader event: {problems}"}, 400)
        stream = STREAM_OF_EVENT.get(event.type)
        if stream is None:
            return JSONResponse({"poked": False, "reason": f"{event.type} is not synced"}, 202)
        # PostgreSQL is blocking I/O: off the event loop.
        if not await run_in_threadpool(_poke_known, pool, connection_id, stream):
            return _unknown()
        logger.info("%s %s: poked connection %s", event.type, event.subject.id, connection_id)
        return JSONResponse({"poked": True}, 202)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/teamleader/{connection_id}/{token}", receive, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def _poke_known(pool: Pool, connection_id: uuid.UUID, stream: str) -> bool:
    try:
        connections.get(pool, connection_id)
    except connections.UnknownConnection:
        return False
    poke(pool, connection_id, stream)
    return True


def _unknown() -> JSONResponse:
    return JSONResponse({"error": "no such webhook"}, status_code=404)
