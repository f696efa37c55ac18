"""A Teamleader contact or company → a Visma customer (``CustomerApi``).

Pure functions (no I/O); ``consumers/customer_sync.py`` does the calls. In short:

* a company becomes a business customer, a contact a private person (``IsPrivatePerson``);
* the invoicing address and e-mail come before the primary ones (``Customer.address``);
* Visma requires a postal code and a city: a customer without them is refused here, with a
  sentence naming the customer, rather than by Visma with a field name;
* text is cut to the description's ``maxLength`` (``MAX_LENGTHS``), except the VAT number,
  which is an identifier: a cut one would be a different, wrong number;
* text is cleaned of control characters and bidi overrides (``translation/clean_text.py``):
  a NUL or an escape sequence typed into Teamleader reaches neither Visma nor the reasons
  Koppel stores;
* on an update, every writable field of the existing Visma customer that Koppel does not
  fill (its ``CustomerNumber``, delivery address, a note a person typed…) is sent back as it
  was, because ``PUT /customers/{id}`` replaces the whole customer. A field Teamleader leaves
  empty keeps Visma's value too: Koppel never clears what a person may have entered in Visma.

Koppel's reference (``teamleader:company:<id>``) goes into ``Note`` (``REFERENCE_FIELD``),
the one free-text ``CustomerApi`` field long enough for it (≤ 4000) that is meant for
people, not for documents: it is not printed on invoices and not used by e-invoicing, unlike
``ElectronicReference`` (≤ 35), ``PropertyReference`` (≤ 40, Swedish ROT/RUT) or the
GLN/EDI fields. Koppel writes it when it creates a customer, or when the note is empty, and
never overwrites a note a person wrote.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from clients.errors import DataError
from clients.teamleader.models import Company, Contact, Invoicee, PaymentTerm
from clients.visma.models import Customer as VismaCustomer
from clients.visma.models import TermsOfPayment
from translation.clean_text import clean
from translation.errors import TranslationError

Kind = Literal["contact", "company"]
KINDS: tuple[Kind, ...] = ("contact", "company")

#: Where Koppel's reference is stored on a Visma customer (and searched with ``$filter``).
REFERENCE_FIELD = "Note"

#: ``maxLength`` of the ``CustomerApi`` fields Koppel fills (a test compares them with the
#: description, ``CustomerApi`` in ``tests/api_schemas/visma.json``).
MAX_LENGTHS: dict[str, int] = {
    "Name": 50,
    "InvoicePostalCode": 10,
    "InvoiceCity": 50,
    "InvoiceAddress1": 50,
    "InvoiceCountryCode": 2,
    "EmailAddress": 255,
    "Telephone": 50,
    "MobilePhone": 50,
    "VatNumber": 20,
    "CurrencyCode": 3,
    "CorporateIdentityNumber": 20,
    "Note": 4000,
}

#: Every writable ``CustomerApi`` property (not ``readOnly``; ``TermsOfPayment`` is the
#: nested read form of ``TermsOfPaymentId``). An update sends these back from the existing
#: customer when Koppel has nothing for them.
WRITABLE_FIELDS: tuple[str, ...] = (
    "InvoiceCity",
    "InvoicePostalCode",
    "GLN",
    "EmailAddressOrder",
    "EmailAddressQuote",
    "TaxDeductionNumber",
    "PropertyType",
    "PropertyReference",
    "CustomerLabels",
    "Iban",
    "IsDirectDebitEnabled",
    "DirectDebitCustomerSettings",
    "DiscountAgreementId",
    "CustomerNumber",
    "CorporateIdentityNumber",
    "ContactPersonEmail",
    "ContactPersonMobile",
    "ContactPersonName",
    "ContactPersonPhone",
    "CurrencyCode",
    "EmailAddress",
    "InvoiceAddress1",
    "InvoiceAddress2",
    "InvoiceCountryCode",
    "DeliveryAddress1",
    "DeliveryAddress2",
    "DeliveryCity",
    "DeliveryCountryCode",
    "DeliveryPostalCode",
    "DeliveryCustomerName",
    "DeliveryMethodId",
    "DeliveryTermId",
    "Name",
    "Note",
    "ReverseChargeOnConstructionServices",
    "WebshopCustomerNumber",
    "MobilePhone",
    "Telephone",
    "TermsOfPaymentId",
    "VatNumber",
    "WwwAddress",
    "IsPrivatePerson",
    "IsNorthernIreland",
    "DiscountPercentage",
    "IsActive",
    "ForceBookkeepVat",
    "EdiGlnNumber",
    "SalesDocumentLanguage",
    "ElectronicAddress",
    "ElectronicReference",
    "EdiServiceDelivererId",
    "AutoInvoiceActivationEmailSentDate",
    "AutoInvoiceRegistrationRequestSentDate",
    "EmailAddresses",
    "DeliveryBasedVat",
    "SalesPriceListId",
)

#: Teamleader ``payment_term.type`` → Visma ``TermsOfPaymentTypeId`` (0 Normal, 1 Current
#: month, 2 Cash).
TERMS_TYPES: dict[str, int] = {"after_invoice_date": 0, "end_of_month": 1, "cash": 2}
#: The fallback terms when nothing else applies (days).
FALLBACK_TERMS_DAYS = 30

#: Bumped whenever ``customer_body`` changes what it makes of the same Teamleader data, so
#: every linked customer is compared (and updated) once more.
FINGERPRINT_VERSION = "c1"


class CustomerNotAcceptable(TranslationError):
    """A Teamleader customer Visma cannot take as it stands; ``field`` names what to fix."""

    def __init__(self, reason: str, *, field: str) -> None:
        super().__init__(reason)
        self.field = field


class CustomerNotFound(TranslationError):
    """The Teamleader contact or company no longer exists (deleted, or the id is wrong)."""


def reference_for(kind: str, teamleader_id: str) -> str:
    """Koppel's deterministic reference of a customer: ``teamleader:company:<id>``."""
    return f"teamleader:{kind}:{teamleader_id}"


def display_name(customer: Contact | Company) -> str:
    """The name a person knows the customer by (a contact's "first last"), cleaned."""
    if isinstance(customer, Contact):
        return clean(customer.name).strip()
    return clean(customer.name or "").strip()


def describe(customer: Contact | Company, kind: str) -> str:
    """``Customer 'Bakkerij Jansen' (Teamleader company <id>)``: the start of every reason."""
    name = display_name(customer)
    shown = f"'{name}'" if name else "(no name)"
    return f"Customer {shown} (Teamleader {kind} {customer.id})"


def normalized_vat(vat_number: str | None) -> str | None:
    """``nl 1234.56.782 b01`` → ``NL123456782B01``: the form Visma stores and is searched by."""
    if not vat_number:
        return None
    compact = re.sub(r"[\s.\-]", "", clean(vat_number)).upper()
    return compact or None


def customer_body(
    customer: Contact | Company,
    *,
    kind: Kind,
    terms_of_payment_id: str,
    reference: str,
    existing: VismaCustomer | None,
) -> dict[str, Any]:
    """The ``CustomerApi`` body for ``customer`` (a POST, or a PUT over ``existing``).

    Raises :class:`CustomerNotAcceptable` for what Visma would refuse: no name, no postal
    code or city, a VAT number longer than Visma's 20 characters."""
    if kind not in KINDS:
        raise ValueError(f"kind must be contact or company, not {kind!r}")
    who = describe(customer, kind)
    name = display_name(customer)
    if not name:
        raise CustomerNotAcceptable(
            f"{who} has no name; Visma requires one. Add it in Teamleader.", field="name"
        )
    address = customer.address("invoicing")
    postal_code = _clean(address.postal_code if address else None)
    city = _clean(address.city if address else None)
    if not postal_code:
        raise CustomerNotAcceptable(
            f"{who} has no postal code on its invoicing or primary address; Visma requires "
            "one. Add it in Teamleader.",
            field="postal_code",
        )
    if not city:
        raise CustomerNotAcceptable(
            f"{who} has no city on its invoicing or primary address; Visma requires one. "
            "Add it in Teamleader.",
            field="city",
        )
    vat = normalized_vat(customer.vat_number)
    if vat is not None and len(vat) > MAX_LENGTHS["VatNumber"]:
        raise CustomerNotAcceptable(
            f"{who} has VAT number '{_shown_vat(customer)}', which is longer than the "
            f"{MAX_LENGTHS['VatNumber']} characters a VAT number can have. Correct it in "
            "Teamleader.",
            field="vat_number",
        )
    country = _clean(address.country if address else None)
    phone, mobile = _telephones(customer)
    ours: dict[str, Any] = {
        "Name": name,
        "IsPrivatePerson": kind == "contact",
        "IsActive": (customer.status or "active") != "deactivated",
        "TermsOfPaymentId": terms_of_payment_id,
        "InvoicePostalCode": postal_code,
        "InvoiceCity": city,
        "InvoiceAddress1": _clean(address.line_1 if address else None),
        # Only a two-letter code means anything to Visma; a cut "Nederland" would not.
        "InvoiceCountryCode": country.upper() if country and len(country) == 2 else None,
        "EmailAddress": _clean(customer.email("invoicing")),
        "Telephone": phone,
        "MobilePhone": mobile,
        "VatNumber": vat,
    }
    if isinstance(customer, Company):
        ours["CurrencyCode"] = _clean(customer.preferred_currency)
        ours["CorporateIdentityNumber"] = _clean(customer.national_identification_number)
        if ours["CurrencyCode"]:
            ours["CurrencyCode"] = ours["CurrencyCode"].upper()
    body = _kept(existing)
    body.update({field: _fit(field, value) for field, value in ours.items() if value is not None})
    # The reference goes in only where no person wrote a note.
    if not body.get(REFERENCE_FIELD):
        body[REFERENCE_FIELD] = _fit(REFERENCE_FIELD, reference)
    return body


def differences(body: Mapping[str, Any], existing: VismaCustomer) -> list[str]:
    """The fields of ``body`` whose value is not what ``existing`` has (in body order)."""
    current = existing.model_dump()
    return [field for field, value in body.items() if not _same(value, current.get(field))]


def terms_of_payment_for(
    payment_term: PaymentTerm | None,
    visma_terms: Sequence[TermsOfPayment],
    default_id: str | None,
) -> str:
    """The Visma terms of payment for a Teamleader payment term.

    The terms with the same type and days; else the connection's default; else the first
    with 30 days (normal ones first)."""
    usable = [t for t in visma_terms if t.Id and getattr(t, "AvailableForSales", True) is not False]
    if payment_term is not None:
        type_id = TERMS_TYPES.get(payment_term.type)
        days = payment_term.days or 0
        for terms in usable:
            if terms.TermsOfPaymentTypeId == type_id and (terms.NumberOfDays or 0) == days:
                return str(terms.Id)
    if default_id:
        return default_id
    thirty = [t for t in usable if t.NumberOfDays == FALLBACK_TERMS_DAYS]
    thirty.sort(key=lambda t: t.TermsOfPaymentTypeId != 0)  # stable: normal terms first
    if thirty:
        return str(thirty[0].Id)
    raise TranslationError(
        f"Visma has no terms of payment of {FALLBACK_TERMS_DAYS} days and the connection has "
        "no default terms of payment. Add such terms in Visma, or set the connection's "
        "default terms of payment, then requeue."
    )


def refused(customer: Contact | Company, kind: str, error: DataError) -> CustomerNotAcceptable:
    """Visma's refusal of a customer as a sentence naming the customer and the field."""
    who = describe(customer, kind)
    detail = clean(error.reason).strip().rstrip(".")
    if error.code == "4025" or "VatNumber" in error.fields:
        return CustomerNotAcceptable(
            f"{who} has VAT number '{_shown_vat(customer)}', which Visma refuses as invalid "
            f"({detail}). Correct it in Teamleader.",
            field="vat_number",
        )
    fields = ", ".join(clean(f) for f in error.fields) if error.fields else "its data"
    return CustomerNotAcceptable(
        f"Visma refuses {who[0].lower()}{who[1:]}: {detail}. Correct {fields} in Teamleader.",
        field=clean(error.fields[0]) if error.fields else "customer",
    )


# -- fingerprints: what a link last saw -----------------------------------------------------
@dataclass(frozen=True)
class Seen:
    """What Koppel wrote for a customer: Teamleader's ``updated_at`` and the body's digest."""

    updated_at: datetime | None
    digest: str


def fingerprint(body: Mapping[str, Any], updated_at: datetime | None) -> str:
    """``c1|<updated_at>|<digest>`` for ``links.fingerprint``.

    ``body`` is the body made without an existing customer: what Teamleader says, so a
    Teamleader change that Visma does not carry (a tag, a remark) changes nothing."""
    stamp = updated_at.isoformat() if updated_at else ""
    return f"{FINGERPRINT_VERSION}|{stamp}|{digest(body)}"


def read_fingerprint(text: str | None) -> Seen | None:
    """The fingerprint's parts; None when absent, unreadable or made by another version."""
    if not text:
        return None
    parts = text.split("|")
    if len(parts) != 3 or parts[0] != FINGERPRINT_VERSION:
        return None
    try:
        updated_at = datetime.fromisoformat(parts[1]) if parts[1] else None
    except ValueError:
        return None
    return Seen(updated_at, parts[2])


def digest(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- helpers ---------------------------------------------------------------------------------
def _kept(existing: VismaCustomer | None) -> dict[str, Any]:
    if existing is None:
        return {}
    current = existing.model_dump()
    return {f: current[f] for f in WRITABLE_FIELDS if current.get(f) is not None}


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(clean(value).split())
    return text or None


def _shown_vat(customer: Contact | Company) -> str:
    """The VAT number as typed, for a reason (cleaned: it is stored and printed)."""
    return clean(customer.vat_number or "")


def _fit(field: str, value: Any) -> Any:
    limit = MAX_LENGTHS.get(field)
    if limit is not None and isinstance(value, str) and len(value) > limit:
        return value[:limit].rstrip()
    return value


def _telephones(customer: Contact | Company) -> tuple[str | None, str | None]:
    """(telephone, mobile): a ``mobile`` number goes to MobilePhone, the first other one to
    Telephone (or the mobile one when there is no other)."""
    numbers: Iterable[tuple[str | None, str]] = (
        (t.type, n) for t in customer.telephones if (n := _clean(t.number))
    )
    phone = mobile = None
    for kind, number in numbers:
        if kind == "mobile":
            mobile = mobile or number
        else:
            phone = phone or number
    return phone or mobile, mobile


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, str) and isinstance(theirs, str):
        # Visma may echo a uuid in upper case; text otherwise compares exactly.
        return ours == theirs or (ours.lower() == theirs.lower() and _looks_like_uuid(ours))
    return bool(ours == theirs)


def _looks_like_uuid(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", text))


#: Visma requires an invoicing postal code and city, and a document's invoicee block has
#: no address: a customer made from it says so where the bookkeeper sees the address.
UNKNOWN_POSTAL_CODE = "-"
UNKNOWN_CITY = "Unknown (deleted in Teamleader)"


def from_invoicee(kind: str, invoicee: Invoicee) -> Contact | Company:
    """A Teamleader customer made from a document's invoicee block, for a customer deleted
    in Teamleader before Koppel linked it (docs/architecture.md#deletions): its id, name,
    VAT number and e-mail, and an address that says it is unknown."""
    fields: dict[str, Any] = {
        "id": invoicee.customer.id,
        "vat_number": invoicee.vat_number,
        "emails": [{"type": "invoicing", "email": invoicee.email}] if invoicee.email else [],
        "addresses": [
            {
                "type": "invoicing",
                "address": {"postal_code": UNKNOWN_POSTAL_CODE, "city": UNKNOWN_CITY},
            }
        ],
    }
    if kind == "contact":
        return Contact.model_validate(fields | {"last_name": invoicee.name})
    return Company.model_validate(fields | {"name": invoicee.name})
