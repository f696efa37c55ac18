"""A Teamleader contact or company → a Visma customer body (translation/customers.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.errors import DataError
from clients.teamleader.models import Company, Contact, PaymentTerm
from clients.visma.models import Customer as VismaCustomer
from clients.visma.models import TermsOfPayment
from sandbox.visma.company import TERMS_OF_PAYMENT, terms_of_payment_id
from sandbox.visma.schemas import CustomerIn
from tests.spec_check import described
from translation.clean_text import clean
from translation.customers import (
    MAX_LENGTHS,
    REFERENCE_FIELD,
    WRITABLE_FIELDS,
    CustomerNotAcceptable,
    customer_body,
    differences,
    fingerprint,
    read_fingerprint,
    reference_for,
    refused,
    terms_of_payment_for,
)
from translation.errors import TranslationError

COMPANY_ID = "7c1f2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
CONTACT_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
TERMS_30 = terms_of_payment_id("30")
VISMA_TERMS = [
    TermsOfPayment(
        Id=terms_of_payment_id(key),
        Name=name,
        NameEnglish=english,
        NumberOfDays=days,
        TermsOfPaymentTypeId=type_id,
        TermsOfPaymentTypeText=text,
    )
    for key, name, english, days, type_id, text in TERMS_OF_PAYMENT
]


def address(**fields: Any) -> dict[str, Any]:
    base = {"line_1": "Dorpsstraat 12", "postal_code": "3512 AB", "city": "Utrecht"}
    return {**base, "country": "NL", **fields}


def company(**fields: Any) -> Company:
    data: dict[str, Any] = {
        "id": COMPANY_ID,
        "name": "Bakkerij Jansen B.V.",
        "status": "active",
        "vat_number": "NL123456782B01",
        "national_identification_number": "12345678",
        "preferred_currency": "EUR",
        "emails": [{"type": "primary", "email": "info@jansen.example"}],
        "telephones": [{"type": "phone", "number": "030 123 45 67"}],
        "addresses": [{"type": "primary", "address": address()}],
        "updated_at": "2026-03-01T10:00:00+00:00",
    }
    data.update(fields)
    return Company.model_validate(data)


def contact(**fields: Any) -> Contact:
    data: dict[str, Any] = {
        "id": CONTACT_ID,
        "first_name": "Anna",
        "last_name": "de Vries",
        "status": "active",
        "emails": [{"type": "primary", "email": "anna@example.nl"}],
        "telephones": [
            {"type": "phone", "number": "020 765 43 21"},
            {"type": "mobile", "number": "06 12345678"},
        ],
        "addresses": [{"type": "primary", "address": address(city="Haarlem")}],
    }
    data.update(fields)
    return Contact.model_validate(data)


def body_of(customer: Company | Contact, existing: VismaCustomer | None = None) -> dict[str, Any]:
    kind = "company" if isinstance(customer, Company) else "contact"
    return customer_body(
        customer,
        kind=kind,
        terms_of_payment_id=TERMS_30,
        reference=reference_for(kind, customer.id),
        existing=existing,
    )


def visma_customer(**fields: Any) -> VismaCustomer:
    data: dict[str, Any] = {
        "Id": "0f0e0d0c-0b0a-4909-8807-060504030201",
        "CustomerNumber": "1042",
        "Name": "Bakkerij Jansen",
        "InvoicePostalCode": "1000 AA",
        "InvoiceCity": "Amsterdam",
        "IsPrivatePerson": False,
        "IsActive": True,
        "TermsOfPaymentId": TERMS_30,
        "EmailAddress": "boekhouding@jansen.example",
        "DeliveryAddress1": "Achterom 3",
        "Note": "Betaalt altijd op tijd",
        "ChangedUtc": "2026-01-05T09:00:00.000Z",
    }
    data.update(fields)
    return VismaCustomer.model_validate(data)


# -- the body --------------------------------------------------------------------------------
def test_a_company_becomes_a_business_customer_with_its_invoicing_address_and_email() -> None:
    # Given a company with an invoicing address and e-mail beside its primary ones
    customer = company(
        emails=[
            {"type": "primary", "email": "info@jansen.example"},
            {"type": "invoicing", "email": "facturen@jansen.example"},
        ],
        addresses=[
            {"type": "primary", "address": address()},
            {
                "type": "invoicing",
                "address": address(
                    line_1="Postbus 77", postal_code="2000 AB", city="Antwerpen", country="be"
                ),
            },
        ],
    )
    # When it is translated
    body = body_of(customer)
    # Then the invoicing ones are used, and the company's own fields are there
    assert body == {
        "Name": "Bakkerij Jansen B.V.",
        "IsPrivatePerson": False,
        "IsActive": True,
        "TermsOfPaymentId": TERMS_30,
        "InvoicePostalCode": "2000 AB",
        "InvoiceCity": "Antwerpen",
        "InvoiceAddress1": "Postbus 77",
        "InvoiceCountryCode": "BE",
        "EmailAddress": "facturen@jansen.example",
        "Telephone": "030 123 45 67",
        "VatNumber": "NL123456782B01",
        "CurrencyCode": "EUR",
        "CorporateIdentityNumber": "12345678",
        "Note": f"teamleader:company:{COMPANY_ID}",
    }


def test_a_contact_becomes_a_private_person_named_first_and_last() -> None:
    body = body_of(contact())
    assert body["IsPrivatePerson"] is True
    assert body["Name"] == "Anna de Vries"
    assert body["InvoiceCity"] == "Haarlem"
    assert body["Telephone"] == "020 765 43 21"
    assert body["MobilePhone"] == "06 12345678"
    assert "VatNumber" not in body
    assert "CurrencyCode" not in body  # Visma's default: the company's currency
    assert body[REFERENCE_FIELD] == f"teamleader:contact:{CONTACT_ID}"


def test_a_contact_with_a_vat_number_keeps_it_in_vismas_compact_form() -> None:
    assert body_of(contact(vat_number="nl 1234.56.782 b01"))["VatNumber"] == "NL123456782B01"


def test_a_contact_with_only_a_primary_address_in_the_list_shape_still_has_one() -> None:
    customer = contact(addresses=[], primary_address=address(city="Leiden"))
    assert body_of(customer)["InvoiceCity"] == "Leiden"


def test_a_deactivated_customer_is_inactive_in_visma() -> None:
    assert body_of(company(status="deactivated"))["IsActive"] is False


def test_text_is_cut_to_vismas_maximum_lengths() -> None:
    customer = company(
        name="Stichting " + "Heel Lange Naam " * 6,
        addresses=[
            {"type": "primary", "address": address(line_1="Straat " * 12, city="Stad " * 15)}
        ],
    )
    body = body_of(customer)
    assert len(body["Name"]) <= 50
    assert body["Name"].startswith("Stichting Heel Lange Naam")
    assert len(body["InvoiceAddress1"]) <= 50
    assert len(body["InvoiceCity"]) <= 50


def test_an_update_keeps_what_only_visma_knows_and_takes_what_teamleader_says() -> None:
    # Given a Visma customer with its own number, delivery address, note and e-mail
    existing = visma_customer()
    # And the Teamleader company has no e-mail at all
    customer = company(emails=[])
    # When the body for the update is made
    body = body_of(customer, existing)
    # Then Visma's own fields travel along, Teamleader's replace theirs
    assert body["CustomerNumber"] == "1042"
    assert body["DeliveryAddress1"] == "Achterom 3"
    assert body["Note"] == "Betaalt altijd op tijd"  # a person's note is never overwritten
    assert body["EmailAddress"] == "boekhouding@jansen.example"  # empty in Teamleader: kept
    assert body["Name"] == "Bakkerij Jansen B.V."
    assert body["InvoiceCity"] == "Utrecht"
    assert "Id" not in body and "ChangedUtc" not in body  # read-only: never sent
    assert set(differences(body, existing)) == {
        "Name",
        "InvoicePostalCode",
        "InvoiceCity",
        "InvoiceAddress1",
        "InvoiceCountryCode",
        "Telephone",
        "VatNumber",
        "CurrencyCode",
        "CorporateIdentityNumber",
    }


def test_an_existing_customer_with_an_empty_note_gets_koppels_reference() -> None:
    body = body_of(company(), visma_customer(Note=None))
    assert body["Note"] == reference_for("company", COMPANY_ID)


def test_a_body_made_over_the_customer_it_produced_has_no_differences() -> None:
    # Given the customer Visma stored from Koppel's body (Visma echoes the uuid upper case)
    body = body_of(company())
    stored = visma_customer(**{**body, "TermsOfPaymentId": TERMS_30.upper()})
    # Then making the body again over it changes nothing
    assert differences(body_of(company(), stored), stored) == []


def test_a_company_without_postal_code_is_refused_naming_the_customer_and_the_field() -> None:
    customer = company(
        name="Bakkerij Jansen",
        addresses=[{"type": "primary", "address": address(postal_code=None)}],
    )
    with pytest.raises(CustomerNotAcceptable) as refusal:
        body_of(customer)
    assert refusal.value.field == "postal_code"
    assert refusal.value.reason == (
        f"Customer 'Bakkerij Jansen' (Teamleader company {COMPANY_ID}) has no postal code on "
        "its invoicing or primary address; Visma requires one. Add it in Teamleader."
    )


def test_a_customer_without_any_address_is_refused_for_its_postal_code() -> None:
    with pytest.raises(CustomerNotAcceptable) as refusal:
        body_of(contact(addresses=[]))
    assert "'Anna de Vries'" in refusal.value.reason
    assert refusal.value.field == "postal_code"


def test_a_customer_without_city_is_refused_naming_the_city() -> None:
    customer = contact(addresses=[{"type": "primary", "address": address(city="  ")}])
    with pytest.raises(CustomerNotAcceptable) as refusal:
        body_of(customer)
    assert refusal.value.field == "city"
    assert "has no city" in refusal.value.reason


def test_a_vat_number_too_long_for_visma_is_refused_not_cut() -> None:
    with pytest.raises(CustomerNotAcceptable) as refusal:
        body_of(company(vat_number="NL123456782B01234567890"))
    assert refusal.value.field == "vat_number"
    assert "NL123456782B01234567890" in refusal.value.reason


def test_a_refused_vat_number_becomes_a_sentence_naming_customer_and_number() -> None:
    error = DataError(
        "visma",
        "The VAT number NL123456789B01 is invalid: the check digits of the Dutch VAT number "
        "do not match.",
        status=400,
        code="4025",
        fields=["VatNumber"],
    )
    reason = refused(company(vat_number="NL123456789B01"), "company", error).reason
    assert reason.startswith(
        f"Customer 'Bakkerij Jansen B.V.' (Teamleader company {COMPANY_ID}) has VAT number "
        "'NL123456789B01', which Visma refuses as invalid ("
    )
    assert reason.endswith("). Correct it in Teamleader.")


def test_another_refusal_names_the_fields_visma_gave() -> None:
    error = DataError("visma", "Validation failed", status=400, code="2000", fields=["Email"])
    problem = refused(contact(), "contact", error)
    assert problem.field == "Email"
    assert problem.reason == (
        f"Visma refuses customer 'Anna de Vries' (Teamleader contact {CONTACT_ID}): "
        "Validation failed. Correct Email in Teamleader."
    )


@settings(max_examples=200, deadline=None)
@given(
    # Text of nothing but spaces and control characters is no name (the body cleans them).
    name=st.text(min_size=1, max_size=120).filter(lambda s: clean(s).strip()),
    line=st.text(max_size=120),
    postal=st.text(min_size=1, max_size=30).filter(lambda s: clean(s).strip()),
    city=st.text(min_size=1, max_size=120).filter(lambda s: clean(s).strip()),
    phone=st.text(max_size=80),
)
def test_every_body_fits_the_lengths_visma_accepts(
    name: str, line: str, postal: str, city: str, phone: str
) -> None:
    customer = company(
        name=name,
        addresses=[
            {"type": "invoicing", "address": address(line_1=line, postal_code=postal, city=city)}
        ],
        telephones=[{"type": "phone", "number": phone}] if phone else [],
    )
    body = body_of(customer)
    for field, limit in MAX_LENGTHS.items():
        assert len(body.get(field) or "") <= limit, field
    CustomerIn.model_validate(body)  # the simulator's own field rules accept it


# -- terms of payment ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("term", "expected"),
    [
        (PaymentTerm(type="cash", days=0), terms_of_payment_id("cash")),
        (PaymentTerm(type="cash"), terms_of_payment_id("cash")),
        (PaymentTerm(type="end_of_month", days=0), terms_of_payment_id("end-of-month")),
        (PaymentTerm(type="after_invoice_date", days=14), terms_of_payment_id("14")),
        (PaymentTerm(type="after_invoice_date", days=30), terms_of_payment_id("30")),
    ],
)
def test_a_payment_term_finds_the_visma_terms_of_the_same_type_and_days(
    term: PaymentTerm, expected: str
) -> None:
    assert terms_of_payment_for(term, VISMA_TERMS, default_id="default-terms") == expected


def test_a_payment_term_visma_does_not_have_uses_the_connections_default() -> None:
    term = PaymentTerm(type="after_invoice_date", days=45)
    assert terms_of_payment_for(term, VISMA_TERMS, "default-terms") == "default-terms"
    assert terms_of_payment_for(None, VISMA_TERMS, "default-terms") == "default-terms"


def test_without_a_default_the_first_thirty_day_terms_are_used() -> None:
    assert terms_of_payment_for(None, VISMA_TERMS, None) == terms_of_payment_id("30")
    # 30 days end-of-month are not normal 30 days; the normal ones come first
    odd = TermsOfPayment(Id="eom-30", NumberOfDays=30, TermsOfPaymentTypeId=1)
    assert terms_of_payment_for(None, [odd, *VISMA_TERMS], None) == terms_of_payment_id("30")


def test_no_terms_at_all_is_a_translation_error_saying_what_to_do() -> None:
    with pytest.raises(TranslationError, match="default terms of payment"):
        terms_of_payment_for(PaymentTerm(type="cash"), [], None)


# -- fingerprints ----------------------------------------------------------------------------
def test_a_fingerprint_reads_back_its_teamleader_version() -> None:
    moment = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    body = body_of(company())
    seen = read_fingerprint(fingerprint(body, moment))
    assert seen is not None
    assert seen.updated_at == moment
    assert seen == read_fingerprint(fingerprint(dict(reversed(body.items())), moment))
    changed = read_fingerprint(fingerprint({**body, "InvoiceCity": "Zeist"}, moment))
    assert changed is not None and changed.digest != seen.digest


@pytest.mark.parametrize("text", [None, "", "garbage", "c0|2026-03-01T10:00:00+00:00|abc"])
def test_a_missing_or_foreign_fingerprint_reads_as_none(text: str | None) -> None:
    assert read_fingerprint(text) is None


# -- agreement with the description ----------------------------------------------------------
def _customer_api() -> dict[str, Any]:
    return described("visma")["schemas"]["CustomerApi"]


def test_the_maximum_lengths_are_the_descriptions() -> None:
    properties = _customer_api()["properties"]
    assert {name: properties[name]["maxLength"] for name in MAX_LENGTHS} == MAX_LENGTHS


def test_the_fields_kept_on_update_are_every_writable_property_of_the_description() -> None:
    properties = _customer_api()["properties"]
    writable = {
        name
        for name, schema in properties.items()
        if not schema.get("readOnly") and name != "TermsOfPayment"
    }
    assert set(WRITABLE_FIELDS) == writable
