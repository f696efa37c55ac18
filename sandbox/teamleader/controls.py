"""Sandbox controls under ``/_sandbox/`` (not part of Teamleader's API).

Every control takes an optional ``?account=<id>`` (default: the default account).

* ``POST /_sandbox/reset`` body = dataset part → the default account's data replaced.
* ``POST /_sandbox/accounts`` body = dataset part → ``{"account_id"}`` of a new account.
* ``POST /_sandbox/tokens/expire`` → every access token issued so far stops working.
* ``POST /_sandbox/contacts`` / ``/_sandbox/companies`` body = partial ``.info`` object →
  the full object (``contact.added`` / ``company.added``).
* ``POST /_sandbox/contacts/{id}`` / ``/_sandbox/companies/{id}`` body = fields to merge →
  the full object, ``updated_at`` bumped (``contact.updated`` / ``company.updated``).
* ``POST /_sandbox/invoices`` body = ``{department_id, customer {type, id}, lines
  [{description, quantity, unit_price, tax_rate_id, discount_percentage?,
  product_category_id?, extended_description?}], currency?, currency_exchange_rate?,
  discounts? [{type: "percentage", value, description?}], invoice_date?, payment_term?,
  purchase_order_number?, note?, book_on?}`` → a draft
  (``invoice.drafted``), booked at once when ``book_on`` is given.
* ``POST /_sandbox/invoices/{id}/book`` ``{"on": "YYYY-MM-DD"}`` → numbered, outstanding
  (``invoice.booked``).
* ``POST /_sandbox/invoices/{id}/update`` body = ``{lines?, discounts?, customer?,
  invoice_date?, payment_term?, purchase_order_number?, note?}`` → totals recomputed
  (``invoice.updated``).
* ``POST /_sandbox/invoices/{id}/credit`` ``{"lines"?: [...], "discounts"?: [...], "on"?:
  date}`` → a booked credit note for all lines (with the invoice's discounts), or for the
  given compact lines and discounts (``creditNote.booked``).
* ``POST /_sandbox/invoices/{id}/plant`` / ``/_sandbox/creditNotes/{id}/plant`` body = raw
  fields → laid over what ``.list`` and ``.info`` answer for it, as they are (an impossible
  date, a wrong type, NUL bytes: records a real account returns); ``{}`` takes them away.
  ``updated_at`` bumped either way.
* ``POST /_sandbox/numbering`` ``{department_id, kind?: "invoices" | "creditNotes", year,
  name?, start?}`` → that fiscal year's numbering from now on: numbers read ``"<name> / n"``
  from ``start`` (a data set's ``numbering`` holds the same objects).
* ``GET /_sandbox/webhooks/deliveries`` → ``{"data": [{account_id, url, body, status,
  error}]}``; ``DELETE`` forgets them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.dataset_error import DatasetError
from sandbox.teamleader.dataset import validate_teamleader
from sandbox.teamleader.http import json_response, problem_response, read_json, read_object
from sandbox.teamleader.simulator import Simulator
from sandbox.teamleader.state import Account, Event, Problem

Control = Callable[[Simulator, Request], Awaitable[Response]]


def _account(sim: Simulator, request: Request) -> Account:
    account_id = request.query_params.get("account") or sim.default_account_id
    account = sim.accounts.get(account_id)
    if account is None:
        raise Problem(404, f"account {account_id} not found", "account")
    return account


def _changed(sim: Simulator, account: Account, result: tuple[dict, list[Event]]) -> Response:
    info, events = result
    sim.webhooks.fire(account, events)
    return json_response(info)


async def _dataset_part(request: Request) -> dict[str, Any]:
    part = await read_json(request)
    try:
        validate_teamleader(part)
    except DatasetError as exc:
        raise Problem(400, str(exc), f"{exc.item}.{exc.field}") from exc
    return part


async def reset(sim: Simulator, request: Request) -> Response:
    part = await _dataset_part(request)
    sim.reset(part)
    return json_response({"account_id": sim.default_account_id})


async def create_account(sim: Simulator, request: Request) -> Response:
    part = await _dataset_part(request)
    account = Account.from_dataset(part)
    sim.add_account(account)
    return json_response({"account_id": account.id}, 201)


async def expire_tokens(sim: Simulator, request: Request) -> Response:
    return json_response({"expired": sim.issuer.expire_all()})


def _customer_control(kind: str) -> tuple[Control, Control]:
    async def create(sim: Simulator, request: Request) -> Response:
        account = _account(sim, request)
        return _changed(sim, account, account.create_customer(kind, await read_object(request)))

    async def update(sim: Simulator, request: Request) -> Response:
        account = _account(sim, request)
        body = await read_object(request)
        return _changed(
            sim, account, account.update_customer(kind, request.path_params["id"], body)
        )

    return create, update


#: The numbers of a compact line, with an example of each for the error message.
_LINE_NUMBERS = {"quantity": "3", "unit_price": "125.00", "discount_percentage": "10"}


def _check_line_numbers(lines: Any) -> None:
    """Refuse a compact line whose number fields are not numbers, naming the field and the
    form it takes (the state would refuse it too, but only as "not a number")."""
    if not isinstance(lines, list):
        return
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            continue
        for key, example in _LINE_NUMBERS.items():
            value = line.get(key)
            if value is None or _is_number(value):
                continue
            where = f"lines[{index}].{key}"
            if key == "unit_price" and isinstance(value, dict):
                raise Problem(
                    400,
                    f"{where} must be a JSON number such as {example} (the price excluding "
                    f'tax), not an object like {{"amount": {example}, "tax": "excluding"}}',
                    where,
                )
            raise Problem(
                400, f'{where} must be a JSON number such as {example} (or "{example}")', where
            )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        return False
    try:
        return Decimal(str(value)).is_finite()
    except ArithmeticError:
        return False


async def create_invoice(sim: Simulator, request: Request) -> Response:
    account = _account(sim, request)
    body = await read_object(request)
    _check_line_numbers(body.get("lines"))
    info, events = account.draft_invoice(body)
    if body.get("book_on"):
        info, booked = account.book_invoice(info["id"], body["book_on"])
        events += booked
    return _changed(sim, account, (info, events))


async def book_invoice(sim: Simulator, request: Request) -> Response:
    account = _account(sim, request)
    body = await read_object(request)
    return _changed(sim, account, account.book_invoice(request.path_params["id"], body.get("on")))


async def update_invoice(sim: Simulator, request: Request) -> Response:
    account = _account(sim, request)
    body = await read_object(request)
    _check_line_numbers(body.get("lines"))
    return _changed(sim, account, account.update_invoice(request.path_params["id"], body))


async def credit_invoice(sim: Simulator, request: Request) -> Response:
    account = _account(sim, request)
    body = await read_object(request)
    _check_line_numbers(body.get("lines"))
    result = account.credit_invoice(
        request.path_params["id"],
        body.get("lines"),
        body.get("on"),
        discounts=body.get("discounts"),
    )
    return _changed(sim, account, result)


async def numbering(sim: Simulator, request: Request) -> Response:
    account = _account(sim, request)
    return json_response(account.set_numbering(await read_object(request)))


def _plant_control(collection: str) -> Control:
    async def plant(sim: Simulator, request: Request) -> Response:
        account = _account(sim, request)
        body = await read_object(request)
        info, events = account.plant(collection, request.path_params["id"], body)
        sim.webhooks.fire(account, events)
        return json_response({"id": info["id"], "updated_at": info["updated_at"]})

    return plant


async def deliveries(sim: Simulator, request: Request) -> Response:
    if request.method == "DELETE":
        sim.webhooks.deliveries.clear()
    return json_response({"data": sim.webhooks.for_account(request.query_params.get("account"))})


def routes(sim: Simulator) -> list[Route]:
    create_contact, update_contact = _customer_control("contact")
    create_company, update_company = _customer_control("company")
    table: list[tuple[str, Control, list[str]]] = [
        ("/_sandbox/reset", reset, ["POST"]),
        ("/_sandbox/accounts", create_account, ["POST"]),
        ("/_sandbox/tokens/expire", expire_tokens, ["POST"]),
        ("/_sandbox/contacts", create_contact, ["POST"]),
        ("/_sandbox/contacts/{id}", update_contact, ["POST"]),
        ("/_sandbox/companies", create_company, ["POST"]),
        ("/_sandbox/companies/{id}", update_company, ["POST"]),
        ("/_sandbox/invoices", create_invoice, ["POST"]),
        ("/_sandbox/invoices/{id}/book", book_invoice, ["POST"]),
        ("/_sandbox/invoices/{id}/update", update_invoice, ["POST"]),
        ("/_sandbox/invoices/{id}/credit", credit_invoice, ["POST"]),
        ("/_sandbox/numbering", numbering, ["POST"]),
        ("/_sandbox/invoices/{id}/plant", _plant_control("invoices"), ["POST"]),
        ("/_sandbox/creditNotes/{id}/plant", _plant_control("credit_notes"), ["POST"]),
        ("/_sandbox/webhooks/deliveries", deliveries, ["GET", "DELETE"]),
    ]
    return [
        Route(path, _guarded(sim, control), methods=methods) for path, control, methods in table
    ]


def _guarded(sim: Simulator, control: Control) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await control(sim, request)
        except Problem as problem:
            return problem_response(problem)

    return endpoint
