"""The rule for control characters and bidi overrides in remote text
(``translation/clean_text.py``), and the pure translations that apply it: what Koppel sends
Visma and the reasons it stores carry neither."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clients.errors import DataError
from clients.teamleader.models import Company, Contact
from tests.translation.support import CUSTOMER_ID, check, company, invoice, line, posting_map
from translation.clean_text import clean, clean_json, visible, visible_in_json
from translation.customers import (
    CustomerNotAcceptable,
    customer_body,
    reference_for,
    refused,
)
from translation.ledger_items import posting_for_invoice

#: Every kind of character the rule is about, as text typed into Teamleader may hold them.
HOSTILE = "A\x00B\x1b[2JC\x1b]52;c;aGk=\x07D\u202eE\u2066F\x9bG\x7fH\ud800I"
UNSAFE = ("\x00", "\x1b", "\x07", "\u202e", "\u2066", "\x9b", "\x7f", "\ud800")


def unsafe_in(text: str) -> list[str]:
    return [char for char in UNSAFE if char in text]


def test_clean_drops_controls_and_bidi_overrides_and_replaces_a_lone_surrogate() -> None:
    assert clean(HOSTILE) == "AB[2JC]52;c;aGk=DEFGH\ufffdI"


def test_clean_keeps_ordinary_text_whole() -> None:
    text = "Crème brûlée & Zoë's «café» — 10 % [b]8150[/b] 🍰 עברית"
    assert clean(text) == text
    assert clean(text, lines=True) == text


def test_on_one_line_a_spacing_control_becomes_a_space_and_with_lines_newlines_stay() -> None:
    assert clean("Jan\nJansen\tB.V.\r\x0bx") == "Jan Jansen B.V.  x"
    assert clean("first\r\nsecond\tcol\x00umn", lines=True) == "first\nsecond\tcolumn"


def test_clean_json_cleans_every_string_keys_too_and_leaves_other_values() -> None:
    value = {"na\x00me": ["x\x1by", 1, 2.5, None, True, {"z": "\u202e"}], "n": 7}
    assert clean_json(value) == {"name": ["xy", 1, 2.5, None, True, {"z": ""}], "n": 7}


def test_visible_shows_each_unsafe_character_as_an_escape() -> None:
    assert visible(HOSTILE) == (
        "A\\x00B\\x1b[2JC\\x1b]52;c;aGk=\\x07D\\u202eE\\u2066F\\x9bG\\x7fH\\ud800I"
    )
    assert visible("one\ntwo\tthree") == "one\ntwo\tthree"
    assert visible("one\ntwo\r", lines=False) == "one\\x0atwo\\x0d"


def test_visible_in_json_is_the_same_json_value_without_unsafe_characters() -> None:
    value = {"name": HOSTILE.replace("\ud800", "")}
    text = visible_in_json(json.dumps(value, ensure_ascii=False, indent=2))
    assert unsafe_in(text) == []
    assert json.loads(text) == value


# -- customers ------------------------------------------------------------------------------
def hostile_contact(**fields: Any) -> Contact:
    data: dict[str, Any] = {
        "id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "first_name": "Anna\x00\x1b[2J",
        "last_name": "\u202eVries\x1b]52;c;aGk=\x07",
        "emails": [{"type": "invoicing", "email": "anna\x1b@example.nl"}],
        "telephones": [{"type": "mobile", "number": "06\x00 12345678"}],
        "addresses": [
            {
                "type": "primary",
                "address": {
                    "line_1": "Dorps\x9bstraat 1",
                    "postal_code": "3512\x00AB",
                    "city": "Ut\u202erecht",
                },
            }
        ],
        "vat_number": "NL123456782\x1bB01",
    }
    data.update(fields)
    return Contact.model_validate(data)


def body_of(customer: Contact | Company) -> dict[str, Any]:
    return customer_body(
        customer,
        kind="contact",
        terms_of_payment_id="t-30",
        reference=reference_for("contact", customer.id),
        existing=None,
    )


def test_a_customer_body_carries_no_control_character_or_bidi_override() -> None:
    body = body_of(hostile_contact())
    assert body["Name"] == "Anna[2J Vries]52;c;aGk="
    assert body["InvoiceCity"] == "Utrecht"
    assert body["VatNumber"] == "NL123456782B01"
    assert unsafe_in(json.dumps(body, ensure_ascii=False)) == []


def test_a_refusal_names_the_customer_cleaned() -> None:
    with pytest.raises(CustomerNotAcceptable) as refusal:
        body_of(hostile_contact(addresses=[]))
    assert str(refusal.value).startswith("Customer 'Anna[2J Vries]52;c;aGk=' (Teamleader contact")
    visma_says = DataError(
        "visma", "Name\x1b[2J is \u202einvalid", status=400, code="2000", fields=["Name\x00"]
    )
    reason = str(refused(hostile_contact(), "contact", visma_says))
    assert unsafe_in(reason) == []
    assert "Name[2J is invalid" in reason


# -- postings -------------------------------------------------------------------------------
def test_a_postings_texts_carry_no_control_character_or_bidi_override() -> None:
    mapping = posting_map(category_names={"cat-consultancy": "Consult\x1b[2Jancy\u202e"})
    posting = posting_for_invoice(
        invoice(
            [line("Advies\x00", "1", "100", category="cat-consultancy")],
            invoicee="Acme\x1b]52;c;aGk=\x07 B.V.\u202e",
            payment_reference="+++\x00123/4567/89012+++",
        ),
        CUSTOMER_ID,
        mapping,
    )
    texts = [posting.Voucher.VoucherText, posting.PaymentReferenceNumber or ""]
    texts += [row.TransactionText or "" for row in posting.Voucher.Rows]
    assert unsafe_in(" ".join(texts)) == []
    assert posting.Voucher.VoucherText == "Teamleader factuur 2026 / 17 · Acme]52;c;aGk= B.V."
    check(company(), posting)
