"""The Teamleader Focus client: typed calls over the shared request loop.

Every call is ``POST https://api.focus.teamleader.eu/<resource>.<action>`` with a JSON body
and an ``X-Api-Version`` header. Lists are always paged explicitly (``size`` 100) and read
until a short page, except ``departments.list``, which is not paged. The client paces
itself to 200 calls per window per connection, and when a response says
``X-RateLimit-Remaining: 0`` it sends nothing more on that connection until
``X-RateLimit-Reset``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from clients.http import ApiSession, RetryPolicy, decode_json
from clients.oauth import OAuthApp, RefreshingAuth
from clients.ratelimit import Limiter, SlidingWindowLimiter
from clients.teamleader.envelope import read_envelope
from clients.teamleader.errors import SERVICE, error_for, seconds_until_reset
from clients.teamleader.malformed import Malformed, malformed
from clients.teamleader.models import (
    Company,
    Contact,
    CreditNote,
    Department,
    Invoice,
    PaymentMethod,
    ProductCategory,
    TaxRate,
    TeamleaderModel,
    User,
    Webhook,
)
from clients.tokens import TokenStore
from config.settings import Settings

PAGE_SIZE = 100
#: Added to a wait until ``X-RateLimit-Reset``: the reset is the server's clock, ours may lag.
RESET_MARGIN_S = 0.05
Model = TypeVar("Model", bound=TeamleaderModel)
#: What a list does with an item that does not fit (``clients/teamleader/malformed.py``).
OnMalformed = Callable[[Malformed], None]


def teamleader_oauth_app(settings: Settings) -> OAuthApp:
    """Koppel's integration at Teamleader (client credentials go in the form body)."""
    return OAuthApp(
        service=SERVICE,
        authorize_url=f"{settings.teamleader_auth_url.rstrip('/')}/oauth2/authorize",
        token_url=f"{settings.teamleader_auth_url.rstrip('/')}/oauth2/access_token",
        client_id=settings.teamleader_client_id,
        client_secret=settings.teamleader_client_secret.get_secret_value(),
        redirect_uri=settings.redirect_uri,
        basic_auth=False,
        timeout_s=settings.http_timeout_s,
        # No PKCE: Teamleader documents only client_id, response_type, redirect_uri and state
        # for its authorize step (docs/api-facts.md, Teamleader §1), so a challenge would be
        # ignored at best; the state check and the client secret protect this grant.
        pkce=False,
    )


def teamleader_limiter(settings: Settings) -> SlidingWindowLimiter:
    """The client-side budget: 200 calls per ``teamleader_window_s`` per connection."""
    return SlidingWindowLimiter(settings.teamleader_calls_per_window, settings.teamleader_window_s)


def timestamp(moment: datetime) -> str:
    """``2016-02-04T16:44:33+00:00``: whole seconds, explicit offset (docs/api-facts.md,
    Teamleader §3)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


class TeamleaderClient:
    """One connection's access to one Teamleader account."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenStore,
        connection_id: str,
        *,
        limiter: Limiter | None = None,
        transport: httpx.BaseTransport | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
    ) -> None:
        self.connection_id = connection_id
        self.limiter = limiter or teamleader_limiter(settings)
        self.session = ApiSession(
            service=SERVICE,
            base_url=settings.teamleader_api_url.rstrip("/"),
            error_for=error_for,
            limiter=self.limiter,
            limit_key=lambda _request: connection_id,
            auth=RefreshingAuth(
                teamleader_oauth_app(settings), tokens, settings.token_refresh_margin_s
            ),
            retry=RetryPolicy.from_settings(settings),
            timeout_s=settings.http_timeout_s,
            headers={"X-Api-Version": settings.teamleader_api_version},
            transport=transport,
            event_hooks=event_hooks,
            on_response=self._on_response,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> TeamleaderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _on_response(self, request: httpx.Request, response: httpx.Response) -> None:
        """Park the connection when Teamleader says the window is used up."""
        if response.headers.get("X-RateLimit-Remaining") == "0" and response.status_code != 429:
            wait_s = seconds_until_reset(response)
            if wait_s is not None:
                self.limiter.hold_until(self.connection_id, wait_s + RESET_MARGIN_S)

    def _call(self, endpoint: str, body: Mapping[str, Any] | None = None, *, read: bool) -> Any:
        response = self.session.call("POST", f"/{endpoint}", body=body, read=read)
        decoded = decode_json(response)
        return decoded.get("data") if isinstance(decoded, dict) else None

    def _one(self, endpoint: str, model: type[Model], body: Mapping[str, Any]) -> Model:
        """One object, validated straight from the response's bytes (pydantic parses the
        JSON itself, numbers into ``Decimal`` exactly as written). Not faster than
        ``json.loads`` and validating after (0.19–0.29 ms an invoice either way: the models'
        null-list hook runs per nested object), but an object that does not fit now says
        which fields, once (envelope.py)."""
        response = self.session.call("POST", f"/{endpoint}", body=body, read=True)
        return read_envelope(SERVICE, endpoint, model, response.content)

    def _pages(
        self,
        endpoint: str,
        model: type[Model],
        filters: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        on_malformed: OnMalformed | None = None,
    ) -> Iterator[Model]:
        """Every item of a paged list: pages of 100 until one comes back short.

        Each item is read on its own: one that does not fit its model raises, or, when
        ``on_malformed`` is given, is handed to it and the rest of the page goes on."""
        number = 1
        while True:
            body: dict[str, Any] = {**(extra or {}), "page": {"size": PAGE_SIZE, "number": number}}
            if filters:
                body["filter"] = dict(filters)
            data = self._call(endpoint, body, read=True) or []
            for item in data:
                try:
                    parsed = model.model_validate(item)
                except ValidationError as error:
                    if on_malformed is None:
                        raise
                    on_malformed(malformed(item, error))
                    continue
                yield parsed
            if len(data) < PAGE_SIZE:
                return
            number += 1

    # -- settings ---------------------------------------------------------------------------
    def me(self) -> User:
        return User.model_validate(self._call("users.me", read=True))

    def departments(self) -> list[Department]:
        """Not paged: ``departments.list`` ignores ``page`` (asking for page 2 loops)."""
        return [Department.model_validate(d) for d in self._call("departments.list", {}, read=True)]

    def department(self, id_: str) -> Department:
        return self._one("departments.info", Department, {"id": id_})

    def tax_rates(self, department_id: str | None = None) -> list[TaxRate]:
        filters = {"department_id": department_id} if department_id else {}
        return list(self._pages("taxRates.list", TaxRate, filters))

    def product_categories(self, department_id: str | None = None) -> list[ProductCategory]:
        body = {"filter": {"department_id": department_id}} if department_id else {}
        data = self._call("productCategories.list", body, read=True) or []
        return [ProductCategory.model_validate(c) for c in data]

    def payment_methods(self) -> list[PaymentMethod]:
        return list(self._pages("paymentMethods.list", PaymentMethod, {}))

    # -- customers --------------------------------------------------------------------------
    def contacts(
        self,
        updated_since: datetime | None = None,
        ids: Sequence[str] | None = None,
        term: str | None = None,
        on_malformed: OnMalformed | None = None,
    ) -> Iterator[Contact]:
        """Contacts, oldest change first (a stable order for an ``updated_since`` cursor)."""
        return self._pages(
            "contacts.list",
            Contact,
            _filters(updated_since=updated_since, ids=ids, term=term),
            {"sort": [{"field": "updated_at", "order": "asc"}]},
            on_malformed,
        )

    def contact(self, id_: str) -> Contact:
        return self._one("contacts.info", Contact, {"id": id_})

    def companies(
        self,
        updated_since: datetime | None = None,
        ids: Sequence[str] | None = None,
        term: str | None = None,
        on_malformed: OnMalformed | None = None,
    ) -> Iterator[Company]:
        return self._pages(
            "companies.list",
            Company,
            _filters(updated_since=updated_since, ids=ids, term=term),
            {"sort": [{"field": "updated_at", "order": "asc"}]},
            on_malformed,
        )

    def company(self, id_: str) -> Company:
        return self._one("companies.info", Company, {"id": id_})

    # -- documents --------------------------------------------------------------------------
    def invoices(
        self,
        updated_since: datetime | None = None,
        status: Sequence[str] | None = None,
        department_id: str | None = None,
        invoice_date_after: date | None = None,
        invoice_date_before: date | None = None,
        ids: Sequence[str] | None = None,
        invoice_number: str | None = None,
        term: str | None = None,
        on_malformed: OnMalformed | None = None,
    ) -> Iterator[Invoice]:
        """Invoices (list shape: no lines). Both date bounds are inclusive; ``invoice_number``
        is a full number ("2017 / 5"), ``term`` a search in number, PO number, payment
        reference and invoicee."""
        filters = _filters(
            updated_since=updated_since,
            ids=ids,
            invoice_number=invoice_number,
            term=term,
            status=list(status) if status else None,
            department_id=department_id,
            invoice_date_after=invoice_date_after,
            invoice_date_before=invoice_date_before,
        )
        return self._pages(
            "invoices.list",
            Invoice,
            filters,
            {"sort": [{"field": "invoice_number", "order": "asc"}]},
            on_malformed,
        )

    def invoice(self, id_: str) -> Invoice:
        return self._one("invoices.info", Invoice, {"id": id_})

    def register_payment(
        self,
        id_: str,
        amount: Decimal,
        currency: str,
        paid_at: datetime,
        payment_method_id: str | None = None,
    ) -> None:
        """A write: a lost answer raises AmbiguousWrite (look at ``payments`` before retrying)."""
        body: dict[str, Any] = {
            "id": id_,
            "payment": {"amount": amount, "currency": currency},
            "paid_at": timestamp(paid_at),
        }
        if payment_method_id:
            body["payment_method_id"] = payment_method_id
        self._call("invoices.registerPayment", body, read=False)

    def credit_notes(
        self,
        updated_since: datetime | None = None,
        department_id: str | None = None,
        invoice_id: str | None = None,
        credit_note_date_after: date | None = None,
        credit_note_date_before: date | None = None,
        ids: Sequence[str] | None = None,
        on_malformed: OnMalformed | None = None,
    ) -> Iterator[CreditNote]:
        """Credit notes; ``credit_note_date_after`` is inclusive, ``…_before`` exclusive."""
        filters = _filters(
            updated_since=updated_since,
            ids=ids,
            department_id=department_id,
            invoice_id=invoice_id,
            credit_note_date_after=credit_note_date_after,
            credit_note_date_before=credit_note_date_before,
        )
        return self._pages("creditNotes.list", CreditNote, filters, None, on_malformed)

    def credit_note(self, id_: str) -> CreditNote:
        """``creditNotes.info`` documents ``data`` as an array: accept that or an object."""
        data = self._call("creditNotes.info", {"id": id_}, read=True)
        if isinstance(data, list):
            data = data[0] if data else None
        return CreditNote.model_validate(data)

    # -- webhooks ---------------------------------------------------------------------------
    def register_webhook(self, url: str, types: Sequence[str]) -> None:
        self._call("webhooks.register", {"url": url, "types": list(types)}, read=False)

    def webhooks(self) -> list[Webhook]:
        return [Webhook.model_validate(w) for w in self._call("webhooks.list", read=True) or []]

    def unregister_webhook(self, url: str, types: Sequence[str]) -> None:
        self._call("webhooks.unregister", {"url": url, "types": list(types)}, read=False)


def _filters(**values: Any) -> dict[str, Any]:
    """The filter object with only what was asked for (the API wants no nulls)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = timestamp(value)
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, (list, tuple)):
            value = list(value)
        out[key] = value
    return out
