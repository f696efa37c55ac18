"""What to do in Visma for a Teamleader contact or company: a plan, made without I/O.

``consumers/customer_sync.py`` reads (Teamleader, the link, Visma), asks these functions what
to do and does it, as ``consumers/postings.py`` writes what ``translation/ledger_items.py``
made. The plan is made in two steps, because the first one spares the Visma calls:

1. :func:`plan_relink`: the link's fingerprint shows that Visma already carries everything
   this Teamleader version would send (Teamleader changed a tag or a remark), so only the
   link moves on to the new version;
2. :func:`plan_customer`: with the Visma customer this one already is, or none, create it,
   update the fields that differ, or keep it as it is.

Each plan says which outcome it ends in and, in :meth:`CustomerPlan.detail`, the sentence the
history shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from clients.teamleader.models import Company, Contact
from clients.visma.models import Customer as VismaCustomer
from contracts.outcome_names import OutcomeName
from translation.customers import Kind, customer_body, differences, digest, read_fingerprint


class Action(StrEnum):
    #: Nothing Visma carries changed: only the link's fingerprint moves.
    RELINK = "relink"
    #: No Visma customer is this one yet: create it (``POST``).
    CREATE = "create"
    #: The Visma customer differs in ``changed``: send the whole body (``PUT``).
    UPDATE = "update"
    #: The Visma customer already has every value: nothing to send.
    KEEP = "keep"


@dataclass(frozen=True)
class Existing:
    """A Visma customer the Teamleader customer already is, and how it was found."""

    customer: VismaCustomer
    #: For the history: "linked", "same VAT number NL…", …
    how: str
    #: Koppel's own create made it, in an earlier attempt whose answer or link was lost.
    ours: bool = False


@dataclass(frozen=True)
class CustomerPlan:
    action: Action
    outcome: OutcomeName
    #: What to send: the ``POST`` body (create) or the whole ``PUT`` body (update).
    body: Mapping[str, Any] = field(default_factory=dict)
    #: The fields whose value Visma does not have yet (update), in body order.
    changed: tuple[str, ...] = ()
    #: The Visma customer it is (update, keep).
    existing: Existing | None = None

    def detail(self, who: str, shown: str) -> str:
        """One sentence for the history: what was done and why. ``who`` is the Teamleader
        customer (``translation.customers.describe``), ``shown`` the Visma customer's
        number, or its id when it has none."""
        if self.action is Action.RELINK:
            return f"{who} changed, but nothing Visma customer {shown} carries."
        if self.existing is None:
            return f"{who} became Visma customer {shown}."
        how = self.existing.how
        if self.existing.ours:
            return f"{who} became Visma customer {shown} ({how})."
        if self.action is Action.KEEP:
            return f"{who} already matches Visma customer {shown} ({how})."
        return (
            f"Visma customer {shown} ({how}) updated from {who[0].lower()}{who[1:]}: "
            f"{', '.join(self.changed)}."
        )


def plan_relink(fresh: Mapping[str, Any], link_fingerprint: str | None) -> CustomerPlan | None:
    """The relink, when the link last wrote this very body (``fresh``: the body made without
    an existing customer); None when Visma must be asked."""
    seen = read_fingerprint(link_fingerprint)
    if seen is None or seen.digest != digest(fresh):
        return None
    return CustomerPlan(Action.RELINK, OutcomeName.UNCHANGED)


def plan_customer(
    customer: Contact | Company,
    *,
    kind: Kind,
    terms_of_payment_id: str,
    reference: str,
    fresh: Mapping[str, Any],
    existing: Existing | None,
) -> CustomerPlan:
    """Create ``fresh`` when no Visma customer is this one; else update what differs from
    ``existing`` (every other field sent back as it is), or keep it.

    A customer made by Koppel's own earlier attempt ends as posted, whatever is sent now:
    this message is the one that made it."""
    if existing is None:
        return CustomerPlan(Action.CREATE, OutcomeName.POSTED, fresh)
    body = customer_body(
        customer,
        kind=kind,
        terms_of_payment_id=terms_of_payment_id,
        reference=reference,
        existing=existing.customer,
    )
    changed = tuple(differences(body, existing.customer))
    if existing.ours:
        outcome = OutcomeName.POSTED
    else:
        outcome = OutcomeName.UPDATED if changed else OutcomeName.UNCHANGED
    action = Action.UPDATE if changed else Action.KEEP
    return CustomerPlan(action, outcome, body, changed, existing)
