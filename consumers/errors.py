"""Which failures are permanent (dead-letter now), which are no failure at all (a wait), and
what a bookkeeper is told about them.

The marker of the error decides (config/errors.py): a :class:`~config.errors.NeedsPerson`
is permanent, because the message or the data is wrong and the same attempt cannot succeed
until a person fixes something (a mapping, an account, the customer's postal code, the
grant). Everything else — a :class:`~config.errors.TryLater` (a credit note
whose invoice is not posted), a :class:`~config.errors.Misconfigured` service or setting, a
database blip that is no Koppel error at all — is retried with backoff by Dramatiq's Retries
middleware, up to ``KOPPEL_MAX_RETRIES`` (docs/architecture.md#failures-are-data).

A :class:`Wait` (a busy document, a 429, a 5xx or timeout of an API, our database away for a
moment, a credit note whose invoice is still queued) is no failure: the message waits for
something under way, using up no retry, for as long as the reason lasts and at most its
:class:`WaitingFor`'s limit (``consumers/middleware/waits.py``).
"""

from __future__ import annotations

from enum import StrEnum

import dramatiq

from clients.errors import ReauthorizationNeeded
from config.errors import NeedsPerson, TryLater


class PermanentFailure(NeedsPerson):
    """Raised by an actor to dead-letter its message at once (the actors' ``throws``)."""

    def __init__(self, error_class: str, reason: str) -> None:
        super().__init__(reason)
        self.error_class = error_class
        self.reason = reason


class NotYetPossible(TryLater):
    """Something this document depends on is not there yet, and nothing is under way that
    would bring it (a credit note's invoice is neither posted nor queued): retry later, with
    backoff, rather than fail; dead-lettered with this reason once the retries are used up."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WaitingFor(StrEnum):
    """What a message can wait for; each has its limit, the setting
    ``wait_for_<value>_max_s`` (config/settings.py)."""

    #: A credit note's invoice, whose message is queued but not handled yet.
    INVOICE = "invoice"
    #: The document, which another worker thread or process is handling right now.
    BUSY_DOCUMENT = "busy_document"
    #: An API's rate limit (a 429), for as long as the API says.
    RATE_LIMIT = "rate_limit"
    #: An unclear write's object to show up in the remote's lists (store.writes.NotListedYet).
    LISTING = "listing"
    #: Visma, Teamleader or our PostgreSQL answering again after a 5xx, a timeout or a lost
    #: connection: tried again within seconds once it is back, not after a backoff grown
    #: to minutes while it was down (the chaos suite, bench/chaos.py, measures this).
    SERVICE = "service"
    #: Its turn in its connection's rate budget, reserved and carried by the message.
    BUDGET = "budget"


class Wait(dramatiq.Retry, TryLater):
    """Not a failure: the document must wait for something under way (``waiting_for``).

    The Waits middleware (``consumers/middleware/waits.py``) enqueues the message again after
    ``delay`` ms without using up a retry, so a long queue for an invoice, a lock or a rate
    limit never dead-letters a message with a reason no bookkeeper can act on; it gives up
    only once the wait has lasted longer than its limit."""

    def __init__(
        self,
        reason: str,
        *,
        waiting_for: WaitingFor,
        delay: int,
        options: dict[str, object] | None = None,
    ) -> None:
        super().__init__(reason, delay=delay)
        self.reason = reason
        self.waiting_for = waiting_for
        #: Dramatiq options the message takes along to its next try (a budget turn).
        self.options = options or {}
        #: The failure the wait became when it outlasted its limit (set by the middleware,
        #: so the dead letter's reason says what was waited for, and how long).
        self.gave_up: WaitedTooLong | None = None


class WaitedTooLong(NeedsPerson):
    """A wait went on past its limit: what it waited for is not coming by itself."""


def as_permanent(error: BaseException) -> PermanentFailure | None:
    """The permanent failure ``error`` stands for, or None when a retry may succeed."""
    if isinstance(error, PermanentFailure):
        return error
    if isinstance(error, ReauthorizationNeeded):
        # Its own message names no fix (`koppel connect` shows it too, where the fix is at hand).
        return PermanentFailure(
            "ReauthorizationNeeded",
            f"{error}. Run `koppel connect` again to grant access, then requeue.",
        )
    if isinstance(error, NeedsPerson):
        # Its message is the reason (a TranslationError's is its ``reason``).
        return PermanentFailure(type(error).__name__, str(error))
    return None


def describe(error: BaseException) -> tuple[str, str]:
    """(error class, reason) for the failures table."""
    if isinstance(error, Wait) and error.gave_up is not None:
        # Dead-lettered as the failure the wait became, not as the wait itself.
        error = error.gave_up
    permanent = as_permanent(error)
    if permanent is not None:
        return permanent.error_class, permanent.reason
    if isinstance(error, NotYetPossible):
        return "NotYetPossible", error.reason
    return type(error).__name__, str(error) or type(error).__name__
