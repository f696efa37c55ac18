"""Sandbox controls under ``/_sandbox/`` (not part of the Visma API).

* ``POST /_sandbox/reset`` — body: a Visma data set part (``{}`` for the default company);
  replaces the default company and clears the rate-limit windows.
* ``POST /_sandbox/companies`` — body: a data set part; adds a company → ``{"company_id"}``.
* ``POST /_sandbox/tokens/expire[?company=]`` — current access tokens expire now.
* ``POST /_sandbox/customerledgeritems/{id}/payments[?company=]`` — body
  ``{"Amount": "12.34", "PaymentDate": "YYYY-MM-DD", "AllowOverpayment": false}``: a full or
  partial payment, as bank matching would register it (with ``AllowOverpayment`` an
  invoice may be paid more than remains: its remainder goes below zero); answers the item.
* ``POST /_sandbox/accountinglock[?company=]`` — body ``{"AccountingLockedTo": "YYYY-MM-DD"
  or null, "AccountingLockInterval": 0-4}``: the lock a bookkeeper sets after a VAT return.
* ``POST /_sandbox/vies[?company=]`` — body ``{"unregistered": ["NL…"], "down": false,
  "down_code": 5001}``: VAT numbers VIES does not know, whether VIES is down, and how that is
  answered (5001 with HTTP 503, or 4100 with HTTP 400); each key optional.
* ``GET /_sandbox/summary[?company=]`` — counts, duplicate ledger items, invoice numbers.
* ``GET /_sandbox/modes`` / ``PUT /_sandbox/modes`` — body: some of ``sandbox/visma/modes.py``'s
  modes; answers them all. A reset puts the defaults back.

Control errors answer ``{"error": "…"}`` (with ``item`` and ``field`` for a data set).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox import clock
from sandbox.dataset_error import DatasetError
from sandbox.visma.jsonio import JsonResponse, utc_now
from sandbox.visma.modes import Modes
from sandbox.visma.posting_rules import round2
from sandbox.visma.state import Company


def _refuse(message: str, status: int = 400, **extra: str) -> Response:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw, parse_float=Decimal) if raw else {}


def _company(request: Request) -> Company | None:
    return request.app.state.sim.companies.get(request.query_params.get("company"))


async def _company_and_object(
    request: Request, shape: str
) -> tuple[Company, dict[str, Any]] | Response:
    """The company named by ``?company=`` and the body, a JSON object; or the refusal to send
    (``shape``: the object expected, shown when the body is something else)."""
    company = _company(request)
    if company is None:
        return _refuse("unknown company", 404)
    try:
        body = await _body(request)
    except ValueError as exc:
        return _refuse(f"the body is not JSON: {exc}")
    if not isinstance(body, dict):
        return _refuse(f"the body must be an object: {shape}")
    return company, body


async def _load_company(
    request: Request, load: Callable[[Any], Company], status_code: int
) -> Response:
    """Build a company from the request's data set part; refuse one that does not fit."""
    try:
        company = load(await _body(request))
    except DatasetError as exc:
        return _refuse(str(exc), item=exc.item, field=exc.field)
    except ValueError as exc:
        return _refuse(f"not JSON: {exc}")
    return JSONResponse({"company_id": company.id}, status_code=status_code)


async def reset(request: Request) -> Response:
    sim = request.app.state.sim
    response = await _load_company(request, sim.companies.reset_default, 200)
    if response.status_code == 200:
        sim.clear_rate_limits()
        sim.modes = Modes()
    return response


async def add_company(request: Request) -> Response:
    return await _load_company(request, request.app.state.sim.companies.add, 201)


async def expire_tokens(request: Request) -> Response:
    sim = request.app.state.sim
    expired = sim.tokens.expire_access_tokens(request.query_params.get("company"))
    return JSONResponse({"expired": expired})


async def register_payment(request: Request) -> Response:
    company = _company(request)
    if company is None:
        return _refuse("unknown company", 404)
    item = company.ledger_items.get(request.path_params["itemId"].lower())
    if item is None:
        return _refuse("unknown customer ledger item", 404)
    try:
        body = await _body(request)
    except ValueError as exc:
        return _refuse(f"the body is not JSON: {exc}")
    if not isinstance(body, dict):
        return _refuse('the body must be an object: {"Amount": 12.34, "PaymentDate": "YYYY-MM-DD"}')
    try:
        amount = Decimal(str(body.get("Amount")))
        if not amount.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        return _refuse('Amount must be a JSON number such as 12.34 (or "12.34")')
    try:
        paid_on = date.fromisoformat(body.get("PaymentDate") or clock.today().isoformat())
    except (ValueError, TypeError):
        return _refuse("PaymentDate must be a date YYYY-MM-DD (left out: the simulators' today)")
    if amount <= 0 or amount != round2(amount):
        return _refuse("Amount must be above 0 with at most 2 decimals")
    remaining: Decimal = item["RemainingAmountInvoiceCurrency"]
    # An invoice's remainder falls toward zero; a credit invoice's (negative) rises to it.
    left = remaining - amount if remaining > 0 else remaining + amount
    # An over-payment of an invoice (Visma NL books it with voucherwithoverunderpayment)
    # leaves a remainder below zero; only when asked, as a bank line can be matched so.
    over = body.get("AllowOverpayment") is True and remaining > 0
    overpaid = remaining == 0 or (remaining > 0 and left < 0) or (remaining < 0 and left > 0)
    if overpaid and not over:
        return _refuse(f"overpayment: {amount} against a remainder of {remaining}", 409)
    now = utc_now()
    touch = request.app.state.sim.modes.payments_touch_modified
    item["RemainingAmountInvoiceCurrency"] = left
    if touch:
        item["ModifiedUtc"] = now
    invoice_id = company.invoice_of_ledger_item.get(item["Id"])
    if invoice_id is not None:
        invoice = company.invoices[invoice_id]
        invoice["RemainingAmountInvoiceCurrency"] = left
        invoice["RemainingAmount"] = round2(left * invoice["CurrencyRate"])
        invoice["PaymentStatus"] = 0 if left == 0 else 1
        invoice["PaymentDate"] = paid_on if left == 0 else None
        if touch:
            invoice["ModifiedUtc"] = now
    return JsonResponse(item)


async def get_modes(request: Request) -> Response:
    return JSONResponse(request.app.state.sim.modes.as_json())


async def set_modes(request: Request) -> Response:
    sim = request.app.state.sim
    try:
        body = await _body(request)
        if not isinstance(body, dict):
            raise ValueError("the body must be an object of modes")
        sim.modes = sim.modes.changed(body)
    except (ValueError, TypeError) as exc:
        return _refuse(str(exc))
    return JSONResponse(sim.modes.as_json())


async def summary(request: Request) -> Response:
    company = _company(request)
    if company is None:
        return _refuse("unknown company", 404)
    items = list(company.ledger_items.values())
    identity = Counter(
        (i["CustomerId"], i["InvoiceDate"], i["TotalAmountInvoiceCurrency"], i["IsCreditInvoice"])
        for i in items
    )
    duplicates = sum(n for n in identity.values() if n > 1)
    return JsonResponse(
        {
            "company_id": company.id,
            "customers": len(company.customers),
            "ledger_items": len(items),
            "vouchers": len(company.vouchers),
            "customer_invoices": len(company.invoices),
            "duplicate_ledger_items": duplicates,
            "invoice_numbers": sorted(i["InvoiceNumber"] for i in items),
        }
    )


async def set_accounting_lock(request: Request) -> Response:
    found = await _company_and_object(request, '{"AccountingLockedTo": "YYYY-MM-DD"}')
    if isinstance(found, Response):
        return found
    company, body = found
    raw = body.get("AccountingLockedTo")
    try:
        locked_to = None if raw is None else date.fromisoformat(str(raw))
    except ValueError:
        return _refuse("AccountingLockedTo must be a date YYYY-MM-DD or null")
    interval = body.get("AccountingLockInterval", 1 if locked_to else 0)
    if not isinstance(interval, int) or not 0 <= interval <= 4:
        return _refuse("AccountingLockInterval must be 0 (none) to 4 (tax declaration)")
    company.settings["AccountingLockedTo"] = locked_to
    company.settings["AccountingLockInterval"] = interval
    return JsonResponse({"AccountingLockedTo": locked_to, "AccountingLockInterval": interval})


async def set_vies(request: Request) -> Response:
    found = await _company_and_object(request, '{"unregistered": [...], "down": false}')
    if isinstance(found, Response):
        return found
    company, body = found
    unregistered = body.get("unregistered", sorted(company.vies_unregistered))
    down = body.get("down", company.vies_down)
    if not isinstance(unregistered, list) or not all(isinstance(n, str) for n in unregistered):
        return _refuse("unregistered must be a list of VAT numbers")
    if not isinstance(down, bool):
        return _refuse("down must be true or false")
    down_code = body.get("down_code", company.vies_down_code)
    if down_code not in (4100, 5001):
        return _refuse("down_code must be 5001 (HTTP 503) or 4100 (HTTP 400)")
    company.vies_unregistered = {"".join(n.split()).upper() for n in unregistered}
    company.vies_down = down
    company.vies_down_code = down_code
    return JsonResponse(
        {"unregistered": sorted(company.vies_unregistered), "down": down, "down_code": down_code}
    )
