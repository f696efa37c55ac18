"""The Visma part of a sandbox data set: checked item by item, references included.

Keys (all optional; a key left out gets the default Dutch company's):
``companysettings`` (merged over the default settings), ``fiscalyears``, ``accounts``,
``vatcodes``, ``termsofpayments``, ``customers``. Items are shaped as their GET returns them;
unknown properties are ignored, types and ids are strict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sandbox import clock
from sandbox.dataset_error import DatasetError
from sandbox.visma.company import default_company
from sandbox.visma.schemas import (
    AccountItem,
    CompanySettingsItem,
    CustomerItem,
    FiscalYearItem,
    TermsOfPaymentItem,
    VatCodeItem,
)
from sandbox.visma.validation import field_path
from sandbox.visma.vat_numbers import vat_number_problem

KEYS = ("companysettings", "fiscalyears", "accounts", "vatcodes", "termsofpayments", "customers")
Item = TypeVar("Item", bound=BaseModel)


@dataclass
class VismaData:
    settings: CompanySettingsItem
    fiscal_years: list[FiscalYearItem]
    accounts: list[AccountItem]
    vat_codes: list[VatCodeItem]
    terms_of_payment: list[TermsOfPaymentItem]
    customers: list[CustomerItem]


def validate_visma(part: dict[str, Any]) -> None:
    """Raise :class:`DatasetError` naming the first item and field that does not fit."""
    parse_visma(part)


def parse_visma(part: dict[str, Any], today: date | None = None) -> VismaData:
    if not isinstance(part, dict):
        raise DatasetError("visma", "(root)", "must be a JSON object")
    unknown = sorted(set(part) - set(KEYS))
    if unknown:
        raise DatasetError("visma", unknown[0], f"unknown key; expected one of {', '.join(KEYS)}")
    defaults = default_company(today or clock.today())
    settings_raw = {**defaults["companysettings"], **(part.get("companysettings") or {})}
    data = VismaData(
        settings=_item(CompanySettingsItem, settings_raw, "visma.companysettings"),
        fiscal_years=_items(FiscalYearItem, part, defaults, "fiscalyears", "Id"),
        accounts=_items(AccountItem, part, defaults, "accounts", "Number"),
        vat_codes=_items(VatCodeItem, part, defaults, "vatcodes", "Code"),
        terms_of_payment=_items(TermsOfPaymentItem, part, defaults, "termsofpayments", "Name"),
        customers=_items(CustomerItem, part, defaults, "customers", "Name"),
    )
    _check_references(data, part)
    return data


def _item(model: type[Item], raw: Any, where: str) -> Item:
    if not isinstance(raw, dict):
        raise DatasetError(where, "(item)", "must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DatasetError(where, field_path(tuple(first["loc"])), first["msg"]) from exc


def _items(
    model: type[Item], part: dict[str, Any], defaults: dict[str, Any], key: str, label: str
) -> list[Item]:
    raw_list = part[key] if key in part else defaults[key]
    if not isinstance(raw_list, list):
        raise DatasetError(f"visma.{key}", "(list)", "must be a JSON array")
    return [_item(model, raw, _where(key, index, raw, label)) for index, raw in enumerate(raw_list)]


def _where(key: str, index: int, raw: Any, label: str) -> str:
    name = raw.get(label) if isinstance(raw, dict) else None
    return f"visma.{key}[{index}]" + (f" ({name})" if name is not None else "")


def _check_references(data: VismaData, part: dict[str, Any]) -> None:
    years = {y.Id: y for y in data.fiscal_years}
    vat_codes = {v.Id for v in data.vat_codes}
    terms = {t.Id for t in data.terms_of_payment}
    for index, year in enumerate(data.fiscal_years):
        if year.EndDate < year.StartDate:
            raise DatasetError(
                f"visma.fiscalyears[{index}] ({year.Id})", "EndDate", "is before StartDate"
            )
    _unique([y.Id for y in data.fiscal_years], "fiscalyears", "Id")
    _unique([v.Id for v in data.vat_codes], "vatcodes", "Id")
    _unique([t.Id for t in data.terms_of_payment], "termsofpayments", "Id")
    _unique([(a.FiscalYearId, a.Number) for a in data.accounts], "accounts", "Number")
    for index, account in enumerate(data.accounts):
        where = f"visma.accounts[{index}] ({account.Number})"
        if account.FiscalYearId not in years:
            raise DatasetError(where, "FiscalYearId", f"no fiscal year {account.FiscalYearId}")
        if account.VatCodeId is not None and account.VatCodeId not in vat_codes:
            raise DatasetError(where, "VatCodeId", f"no VAT code {account.VatCodeId}")
    if data.settings.TermsOfPaymentId not in terms:
        raise DatasetError(
            "visma.companysettings",
            "TermsOfPaymentId",
            f"no terms {data.settings.TermsOfPaymentId}",
        )
    _unique([c.Id for c in data.customers if c.Id], "customers", "Id")
    _unique(
        [c.CustomerNumber for c in data.customers if c.CustomerNumber],
        "customers",
        "CustomerNumber",
    )
    for index, customer in enumerate(data.customers):
        where = f"visma.customers[{index}] ({customer.Name})"
        if customer.TermsOfPaymentId not in terms:
            raise DatasetError(where, "TermsOfPaymentId", f"no terms {customer.TermsOfPaymentId}")
        if customer.VatNumber and (problem := vat_number_problem(customer.VatNumber)):
            raise DatasetError(where, "VatNumber", problem)


def _unique(values: list[Any], key: str, field: str) -> None:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise DatasetError(f"visma.{key}[{index}]", field, f"duplicate {value}")
        seen.add(value)
