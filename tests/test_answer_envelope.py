"""Reading Teamleader's ``{"data": ...}`` answers from bytes (clients/teamleader/envelope.py)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from clients.errors import DataError, TransientError
from clients.teamleader.envelope import SHOWN_PROBLEMS, UnreadableAnswer, read_envelope
from clients.teamleader.models import Contact, Invoice, Money


def test_amounts_arrive_as_the_decimals_written_not_as_rounded_floats() -> None:
    money = read_envelope(
        "Teamleader", "x.info", Money, b'{"data":{"amount":12345678901234.57,"currency":"EUR"}}'
    )
    assert money.amount == Decimal("12345678901234.57")
    tiny = read_envelope("Teamleader", "x.info", Money, b'{"data":{"amount":0.1}}')
    assert tiny.amount == Decimal("0.1")


def test_a_null_list_reads_as_an_empty_one() -> None:
    contact = read_envelope(
        "Teamleader", "contacts.info", Contact, b'{"data":{"id":"c1","emails":null}}'
    )
    assert contact.emails == []


def test_an_object_that_does_not_fit_is_a_data_error_naming_each_field() -> None:
    with pytest.raises(UnreadableAnswer) as raised:
        read_envelope("Teamleader", "x.info", Money, b'{"data":{"amount":"twelve"}}')
    assert isinstance(raised.value, DataError)  # a consumer dead-letters it at once
    assert raised.value.reason == (
        "x.info answered Money Koppel cannot read: amount: Input should be a valid decimal"
    )


def test_a_missing_data_member_is_named_as_data() -> None:
    with pytest.raises(UnreadableAnswer, match="cannot read: data: Field required"):
        read_envelope("Teamleader", "x.info", Money, b'{"meta":{}}')


def test_many_problems_are_shown_up_to_a_limit_and_the_rest_counted() -> None:
    invoice = {"id": "i1", "total": {"tax_exclusive": {"amount": "abc"}}}
    with pytest.raises(ValidationError) as direct:
        Invoice.model_validate(invoice)
    problems = len(direct.value.errors())
    assert problems > SHOWN_PROBLEMS
    with pytest.raises(UnreadableAnswer) as raised:
        read_envelope("Teamleader", "invoices.info", Invoice, json.dumps({"data": invoice}))
    assert raised.value.reason.count(": ") == SHOWN_PROBLEMS + 1  # "cannot read: ", each field
    assert raised.value.reason.endswith(f"; and {problems - SHOWN_PROBLEMS} more")


def test_an_answer_that_is_not_json_may_be_gone_on_the_next_try() -> None:
    with pytest.raises(TransientError, match="not JSON"):
        read_envelope("Teamleader", "x.info", Money, b"<html>502 Bad Gateway</html>")
