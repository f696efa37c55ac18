"""What ``koppel mappings`` prints: the view ``show`` gives, in three renderings, and the
tables of stored or proposed mappings and of unmapped tax rates (``connect`` prints them too).

``show``: one view, three renderings.

Operators read it in a terminal, in a pipe or in cron mail, where 80 columns is all there
is and a wrapped id cannot be copied. So the default view fits the console (80 columns in a
pipe): ids shortened to their first characters, every text cut to one line. ``--wide``
shows every id and text whole, however wide that makes a line; ``--json`` is for scripts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from clients.teamleader.models import Department, TaxRate
from clients.visma.models import Account, TermsOfPayment, VatCode
from ops.console import cut, short_id
from ops.mappings.preflight import set_command_line
from store import mappings
from store.connections import Connection
from translation.errors import percent

#: The default view's table: what its borders and padding take (5 columns: 6 bars, 2
#: spaces each), and its fixed columns ("5.5 %", a short id "1818e811…", "1x (missing)").
TABLE_FRAME = 16
RATE_WIDTH = 5
ID_WIDTH = 9
CODE_WIDTH = 12


@dataclass(frozen=True)
class VatLine:
    """One Teamleader tax rate and its mapping (or its lack of one)."""

    tax_rate_id: str
    tax_rate: str
    #: A fraction as text ("0.21"): exact, for scripts.
    rate: str
    mapped: bool
    #: False for a mapping kept after its tax rate was removed from Teamleader.
    in_teamleader: bool
    vat_code: str | None = None
    vat_code_id: str | None = None
    vat_code_in_visma: bool | None = None
    revenue_account: int | None = None
    #: None when Visma has no such account.
    revenue_account_name: str | None = None


@dataclass(frozen=True)
class MappingsView:
    connection_id: str
    connection_name: str
    department_id: str
    department_name: str
    visma_company: str
    vat: list[VatLine]
    receivables_account: int
    receivables_account_name: str | None
    invoice_number_rule: str
    invoice_number_example: str
    credit_note_number_rule: str
    credit_note_number_example: str
    default_terms_id: str | None
    #: None when Visma has no such terms (or none is set).
    default_terms_name: str | None
    #: A document dated in a period Visma has locked: ``refuse`` or ``post_on_first_open_day``.
    locked_period_policy: str = "refuse"


def _account_name(accounts: Iterable[Account], number: int) -> str | None:
    return next((a.Name for a in accounts if a.Number.strip() == str(number)), None)


def build_view(
    *,
    connection: Connection,
    department: Department,
    company_name: str,
    rates: Iterable[TaxRate],
    stored: Iterable[mappings.VatRow],
    accounts: list[Account],
    codes: Iterable[VatCode],
    terms: Iterable[TermsOfPayment],
    examples: Mapping[str, str],
) -> MappingsView:
    """The view of a connection; ``examples``: number rule → its example."""
    by_rate = {row.tax_rate_id: row for row in stored}
    code_ids = {code.Id.lower() for code in codes}
    lines: list[VatLine] = []

    def line(rate_id: str, description: str, rate: Decimal, live: bool) -> VatLine:
        row = by_rate.pop(rate_id, None)
        if row is None:
            return VatLine(rate_id, description, str(rate), mapped=False, in_teamleader=live)
        return VatLine(
            rate_id,
            description,
            str(rate),
            mapped=True,
            in_teamleader=live,
            vat_code=row.vat_code or row.vat_code_id,
            vat_code_id=row.vat_code_id,
            vat_code_in_visma=row.vat_code_id.lower() in code_ids,
            revenue_account=row.revenue_account,
            revenue_account_name=_account_name(accounts, row.revenue_account),
        )

    for rate in sorted(rates, key=lambda r: (-r.rate, r.description or "")):
        lines.append(line(rate.id, rate.description or "", rate.rate, live=True))
    for row in list(by_rate.values()):  # mapped once, since removed from Teamleader
        lines.append(line(row.tax_rate_id, row.description or "", row.rate, live=False))
    terms_id = connection.default_terms_of_payment_id
    default_terms = next((t for t in terms if terms_id and t.Id == terms_id), None)
    return MappingsView(
        connection_id=str(connection.id),
        connection_name=connection.name,
        department_id=department.id,
        department_name=department.name or "",
        visma_company=company_name,
        vat=lines,
        receivables_account=connection.receivables_account,
        receivables_account_name=_account_name(accounts, connection.receivables_account),
        invoice_number_rule=connection.invoice_number_rule,
        invoice_number_example=examples[connection.invoice_number_rule],
        credit_note_number_rule=connection.credit_note_number_rule,
        credit_note_number_example=examples[connection.credit_note_number_rule],
        default_terms_id=terms_id,
        default_terms_name=default_terms.Name if default_terms is not None else None,
        locked_period_policy=connection.locked_period_policy,
    )


def as_json(view: MappingsView) -> dict[str, Any]:
    """The view as plain data for ``--json`` (every id and text whole)."""
    return asdict(view)


def _short(identifier: str | None, wide: bool) -> str:
    if not identifier:
        return ""
    return identifier if wide else short_id(identifier)


def _cut(text: str, width: int | None) -> str:
    """``text`` on one line, cut to ``width`` with an ellipsis (None: whole)."""
    flat = " ".join(text.splitlines())
    return flat if width is None else cut(flat, width)


def _account_text(number: int | None, name: str | None) -> str:
    if number is None:
        return ""
    return f"{number} {name}" if name is not None else f"{number} (not in Visma!)"


def print_view(out: Console, view: MappingsView, *, wide: bool) -> None:
    """The header, the VAT table and the posting rules; one line each unless ``wide``."""
    width = None if wide else out.width

    def say(text: str) -> None:
        out.print(_cut(text, width))

    say(
        f"{view.connection_name} ({_short(view.connection_id, wide)}): Teamleader department "
        f"{view.department_name} ({_short(view.department_id, wide)}) → Visma company "
        f"{view.visma_company}"
    )
    table = Table(title="VAT mappings (tax rates read from Teamleader now)")
    if wide:
        for name in ("Teamleader tax rate", "rate", "tax rate id", "Visma VAT code"):
            table.add_column(name, justify="right" if name == "rate" else "left")
        table.add_column("revenue account")
    else:
        # One line per row in the console's width: the ids and rates whole, the texts cut
        # (the account's number comes first, so a cut name still names the account). Fixed
        # widths, since rich lets columns that must not wrap overflow the console.
        rest = max(out.width - TABLE_FRAME - RATE_WIDTH - ID_WIDTH - CODE_WIDTH, 16)
        cut: dict[str, Any] = {"no_wrap": True, "overflow": "ellipsis"}
        table.add_column("Teamleader tax rate", width=rest * 2 // 5, **cut)
        table.add_column("rate", justify="right", width=RATE_WIDTH, **cut)
        table.add_column("id", width=ID_WIDTH, **cut)
        table.add_column("VAT code", width=CODE_WIDTH, **cut)
        table.add_column("revenue account", width=rest - rest * 2 // 5, **cut)
    for line in view.vat:
        tax_rate = _cut(line.tax_rate, None)
        if not line.mapped:
            code_text = "not mapped"
        elif wide:
            code_text = (line.vat_code or "") + (
                "" if line.vat_code_in_visma else " (not in Visma!)"
            )
            if not line.in_teamleader:
                code_text += " (tax rate no longer in Teamleader)"
        else:
            # Short notes: in a narrow column a long one would be cut before it says much.
            code_text = (line.vat_code or "") + ("" if line.vat_code_in_visma else " (missing)")
            if not line.in_teamleader:
                tax_rate = f"{tax_rate} (removed)"
        table.add_row(
            tax_rate,
            percent(Decimal(line.rate)),
            _short(line.tax_rate_id, wide),
            code_text,
            _account_text(line.revenue_account, line.revenue_account_name),
        )
    out.print(table)
    if view.default_terms_name is not None:
        terms_text = f"{view.default_terms_name} ({_short(view.default_terms_id, wide)})"
    elif view.default_terms_id:
        terms_text = f"{_short(view.default_terms_id, wide)} (not in Visma!)"
    else:
        terms_text = "none"
    receivables = _account_text(view.receivables_account, view.receivables_account_name)
    say(f"receivables account: {receivables}")
    say(f"invoice number rule: {view.invoice_number_rule}  ({view.invoice_number_example})")
    say(
        f"credit-note number rule: {view.credit_note_number_rule}  "
        f"({view.credit_note_number_example})"
    )
    say(f"default terms of payment: {terms_text}")
    say(f"locked period policy: {view.locked_period_policy}")
    if not wide:
        say("Ids are shortened and texts cut to one line: --wide shows them whole, --json too.")


# -- stored or proposed mappings, and the tax rates without one (``connect``, ``propose``) --
def rows_table(rows: Iterable[mappings.VatRow], title: str = "VAT mappings") -> Table:
    """Stored (or proposed) mappings: tax rate, rate, VAT code, revenue account."""
    table = Table(title=title)
    table.add_column("Teamleader tax rate")
    table.add_column("rate", justify="right")
    table.add_column("Visma VAT code")
    table.add_column("revenue account", justify="right")
    for row in rows:
        table.add_row(
            row.description or row.tax_rate_id,
            percent(row.rate),
            row.vat_code or row.vat_code_id,
            str(row.revenue_account),
        )
    return table


def print_unmapped(out: Console, connection_name: str, unmapped: list[TaxRate]) -> None:
    """Each unmapped tax rate with the ``koppel mappings set`` line that would map it."""
    if not unmapped:
        return
    out.print(
        "Teamleader tax rates without a mapping (documents that use them cannot be "
        "posted until they have one):"
    )
    for rate in unmapped:
        out.print(f"  {rate.description or rate.id} ({percent(rate.rate)}, id {rate.id}):")
        out.print(f"    {set_command_line(connection_name, rate)}")
