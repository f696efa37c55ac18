"""How a message ended: the names stored in ``messages.outcome`` and counted in
``koppel_documents_total{outcome}``, so a value never changes."""

from __future__ import annotations

from enum import StrEnum


class OutcomeName(StrEnum):
    #: Written to Visma (or Teamleader, for a payment) for the first time.
    POSTED = "posted"
    #: An existing Visma customer was brought up to date.
    UPDATED = "updated"
    #: Already as it should be: nothing written.
    UNCHANGED = "unchanged"
    #: Nothing to do for Koppel (a draft, another department, a paused connection).
    SKIPPED = "skipped"
    #: Changed after it was posted: a person must look (``koppel dlq list``).
    ATTENTION = "attention"
    #: Dead-lettered (``failures`` says why).
    FAILED = "failed"
