"""The receiver of Teamleader's webhooks: an event becomes a poke for the poller.

Teamleader POSTs ``{"subject": {"type", "id"}, "type": "invoice.booked", "account": ...}``
to the URL registered for a connection (``koppel webhooks register``); it signs nothing
(docs/api-facts.md, Teamleader §8), so the URL carries the proof:
``/teamleader/<connection id>/<token>``, the token the connection's own random secret
(``store/webhook_secrets.py``; ``koppel webhooks rotate`` replaces it, revoking that URL
alone), or for a connection without one yet, an HMAC of its id under ``KOPPEL_TOKEN_KEY``.
A wrong one is answered like an unknown connection.

The event itself is not trusted with data: it only says *poll this stream of this
connection now* (``producers/pokes.py``). The poller then reads the change through the same
cursors and dedupe keys as every other round, so a duplicated, forged-but-valid, or
out-of-order event can cause at most an extra poll, never a second posting.

Everything a sender can make it hold is bounded (issue 15): the body's size and time
(``producers/webhook_body.py``), the requests handled at once (``max_in_flight``, then 503),
and the pokes a connection's stream gets (one per ``webhook_poke_gap_s``,
``producers/pokes.py``); the server's own limits are in ``producers/webhook_server.py``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from config import Settings, get_settings
from config.unreachable import ServiceUnreachable
from contracts.streams import COMPANIES, CONTACTS, CREDIT_NOTES, DELETIONS, INVOICES
from producers.pokes import GappedPoker
from producers.webhook_body import Refusal, read_body
from store import connections, webhook_secrets
from store.db import Pool
from store.token_store import TokenKeyError

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
    # A deletion leaves the lists, so no cursor sees it: check what Koppel linked.
    "invoice.deleted": DELETIONS,
    "creditNote.deleted": DELETIONS,
    "contact.deleted": DELETIONS,
    "company.deleted": DELETIONS,
    # Payments removed in Teamleader change the invoice's updated_at.
    "invoice.paymentRemoved": INVOICES,
}
EVENT_TYPES = tuple(STREAM_OF_EVENT)


@dataclass(frozen=True)
class ReceiverLimits:
    """What one request may cost (the ``webhook_*`` settings)."""

    max_body_bytes: int
    body_timeout_s: float
    max_in_flight: int
    poke_gap_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ReceiverLimits:
        return cls(
            max_body_bytes=settings.webhook_max_body_bytes,
            body_timeout_s=settings.webhook_body_timeout_s,
            max_in_flight=settings.webhook_max_in_flight,
            poke_gap_s=settings.webhook_poke_gap_s,
        )


class Subject(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    id: str


class TeamleaderEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    subject: Subject


def webhook_token(token_key: str, connection_id: uuid.UUID) -> str:
    """The token of a connection without a webhook secret of its own: an HMAC of its id
    under the key (``store/webhook_secrets.py``; hex, 32 characters)."""
    return webhook_secrets.derived_token(token_key, connection_id)


def webhook_path(token_key: str, connection_id: uuid.UUID) -> str:
    """The path of a connection without a webhook secret of its own."""
    return path_with(connection_id, webhook_token(token_key, connection_id))


def path_with(connection_id: uuid.UUID, token: str) -> str:
    """The path of the connection's webhook URL carrying ``token``."""
    return f"/teamleader/{connection_id}/{token}"


def token_accepted(pool: Pool, token_key: str, connection_id: uuid.UUID, given: str) -> bool:
    """Is ``given`` the token of the connection's URL now: its own secret, or for a
    connection without one yet, the key-derived token (``store/webhook_secrets.py``)?"""
    try:
        expected = webhook_secrets.token_of(pool, token_key, connection_id)
    except TokenKeyError as error:
        # Its secret is under a key no longer configured: no token can be right.
        logger.warning("webhook for connection %s refused: %s", connection_id, error)
        return False
    return _same_token(expected, given)


def create_app(pool: Pool, token_key: str, limits: ReceiverLimits | None = None) -> Starlette:
    limits = limits or ReceiverLimits.from_settings(get_settings())
    poker = GappedPoker(pool, limits.poke_gap_s)
    in_flight = asyncio.Semaphore(limits.max_in_flight)

    async def receive(request: Request) -> JSONResponse:
        # Before anything costs a thread or a database session, a token check included.
        if in_flight.locked():
            return JSONResponse(
                {"error": "too many requests at once; try again"},
                503,
                headers={"Retry-After": "1", "Connection": "close"},
            )
        async with in_flight:
            return await _checked(request)

    async def _checked(request: Request) -> JSONResponse:
        try:
            connection_id = uuid.UUID(request.path_params["connection_id"])
        except ValueError:
            return _unknown()
        given = str(request.path_params["token"])
        try:
            # The connection's secret is in PostgreSQL (blocking I/O: off the event loop),
            # read per request, so a rotated URL is refused from the rotation's commit on.
            if not await run_in_threadpool(token_accepted, pool, token_key, connection_id, given):
                return _unknown()
        except (psycopg.Error, ServiceUnreachable) as error:
            logger.warning("webhook for connection %s not checked: %s", connection_id, error)
            return JSONResponse({"error": "PostgreSQL is unreachable; try again"}, 503)
        return await _handle(request, connection_id)

    async def _handle(request: Request, connection_id: uuid.UUID) -> JSONResponse:
        body = await read_body(request, limits.max_body_bytes, limits.body_timeout_s)
        if isinstance(body, Refusal):
            logger.info("webhook for connection %s refused: %s", connection_id, body.error)
            return body.response()
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
        try:
            # PostgreSQL is blocking I/O: off the event loop.
            if not await run_in_threadpool(_known, pool, connection_id):
                return _unknown()
            delay = await poker.poke(connection_id, stream)
        except (psycopg.Error, ServiceUnreachable) as error:
            logger.warning("webhook for connection %s not passed on: %s", connection_id, error)
            return JSONResponse({"error": "PostgreSQL is unreachable; try again"}, 503)
        # %r: the subject id is the request's text, and a newline in it would forge a line.
        if delay is None:
            # A poke already waits for the gap's end: it reads this change too.
            logger.debug("%r %r: joins the waiting poke", event.type, event.subject.id)
        else:
            later = f" in {delay:.1f} s" if delay else ""
            logger.info(
                "%r %r: poked connection %s%s", event.type, event.subject.id, connection_id, later
            )
        after_s = None if delay is None else round(delay, 3)
        return JSONResponse({"poked": True, "after_s": after_s}, 202)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await poker.flush()  # a poke waiting for its gap goes now, not never

    return Starlette(
        routes=[
            Route("/teamleader/{connection_id}/{token}", receive, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _same_token(expected: str, given: str) -> bool:
    """Compared as bytes in constant time: ``compare_digest`` refuses a str that is not
    ASCII (a 500 for a token like ``é…``), and any text is a wrong token like another."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def _known(pool: Pool, connection_id: uuid.UUID) -> bool:
    try:
        connections.get(pool, connection_id)
    except connections.UnknownConnection:
        return False
    return True


def _unknown() -> JSONResponse:
    return JSONResponse({"error": "no such webhook"}, status_code=404)
