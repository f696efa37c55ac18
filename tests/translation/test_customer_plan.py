"""What to do in Visma for a Teamleader customer, decided without I/O
(translation/customer_plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from clients.teamleader.models import Company
from clients.visma.models import Customer as VismaCustomer
from contracts.outcome_names import OutcomeName
from tests.translation.test_customers import TERMS_30, body_of, company, visma_customer
from translation.customer_plan import (
    Action,
    CustomerPlan,
    Existing,
    plan_customer,
    plan_relink,
)
from translation.customers import describe, fingerprint, reference_for

WHO = describe(company(), "company")


def plan(customer: Company, existing: Existing | None) -> CustomerPlan:
    return plan_customer(
        customer,
        kind="company",
        terms_of_payment_id=TERMS_30,
        reference=reference_for("company", customer.id),
        fresh=body_of(customer),
        existing=existing,
    )


def stored_from(customer: Company) -> VismaCustomer:
    """The customer Visma keeps of Koppel's body (it echoes the uuid upper case)."""
    body = body_of(customer)
    return visma_customer(**{**body, "TermsOfPaymentId": TERMS_30.upper()})


# -- before Visma is asked -------------------------------------------------------------------
def test_a_teamleader_change_visma_does_not_carry_only_moves_the_link() -> None:
    # Given the link wrote this very body for an earlier Teamleader version
    earlier = fingerprint(body_of(company()), datetime(2026, 2, 1, tzinfo=UTC))
    # When a tag changed in Teamleader (the body is the same)
    relink = plan_relink(body_of(company()), earlier)
    # Then nothing is sent to Visma and the message ends unchanged
    assert relink is not None
    assert (relink.action, relink.outcome, dict(relink.body)) == (
        Action.RELINK,
        OutcomeName.UNCHANGED,
        {},
    )
    assert relink.detail(WHO, "1042") == (
        f"{WHO} changed, but nothing Visma customer 1042 carries."
    )


def test_a_changed_body_or_an_unreadable_fingerprint_asks_visma() -> None:
    earlier = fingerprint(body_of(company()), datetime(2026, 2, 1, tzinfo=UTC))
    renamed = body_of(company(name="Bakkerij Jansen & Zn."))
    assert plan_relink(renamed, earlier) is None
    assert plan_relink(body_of(company()), None) is None
    assert plan_relink(body_of(company()), "c0|2026-02-01T00:00:00+00:00|abc") is None


# -- with what Visma has ----------------------------------------------------------------------
def test_without_a_visma_customer_the_body_from_teamleader_is_created() -> None:
    created = plan(company(), None)
    assert (created.action, created.outcome) == (Action.CREATE, OutcomeName.POSTED)
    assert dict(created.body) == body_of(company())
    assert created.detail(WHO, "1042") == f"{WHO} became Visma customer 1042."


def test_a_visma_customer_that_has_every_value_is_kept_as_it_is() -> None:
    kept = plan(company(), Existing(stored_from(company()), "linked"))
    assert (kept.action, kept.outcome, kept.changed) == (Action.KEEP, OutcomeName.UNCHANGED, ())
    assert kept.detail(WHO, "1042") == f"{WHO} already matches Visma customer 1042 (linked)."


def test_a_visma_customer_that_differs_is_updated_in_the_fields_that_differ() -> None:
    # Given a Visma customer a person entered, found by its VAT number
    existing = Existing(visma_customer(), "same VAT number NL123456782B01")
    # When the plan is made
    update = plan(company(), existing)
    # Then it updates, naming the fields that differ, and sends Visma's own fields back
    assert (update.action, update.outcome) == (Action.UPDATE, OutcomeName.UPDATED)
    assert set(update.changed) == {
        "Name",
        "InvoicePostalCode",
        "InvoiceCity",
        "InvoiceAddress1",
        "InvoiceCountryCode",
        "EmailAddress",
        "Telephone",
        "VatNumber",
        "CurrencyCode",
        "CorporateIdentityNumber",
    }
    assert update.body["DeliveryAddress1"] == "Achterom 3"
    assert update.body["Note"] == "Betaalt altijd op tijd"
    assert update.detail(WHO, "1042") == (
        "Visma customer 1042 (same VAT number NL123456782B01) updated from customer "
        f"'Bakkerij Jansen B.V.' (Teamleader company {company().id}): "
        f"{', '.join(update.changed)}."
    )


def test_a_customer_an_earlier_attempt_created_ends_as_posted_updated_or_not() -> None:
    how = "created by an earlier attempt whose answer was lost"
    # Given the customer Koppel's lost create made, as it is or changed since by a person
    same = plan(company(), Existing(stored_from(company()), how, ours=True))
    changed = plan(company(), Existing(visma_customer(), how, ours=True))
    # Then this message is the one that made it: posted either way
    assert (same.action, same.outcome) == (Action.KEEP, OutcomeName.POSTED)
    assert (changed.action, changed.outcome) == (Action.UPDATE, OutcomeName.POSTED)
    assert same.detail(WHO, "1042") == f"{WHO} became Visma customer 1042 ({how})."
