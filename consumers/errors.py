"""Which failures are permanent (dead-letter now) and what a bookkeeper is told about them.

The marker of the error decides (config/errors.py): a :class:`~config.errors.NeedsPerson`
is permanent, because the message or the data is wrong and the same attempt cannot succeed
until a person fixes something (a mapping, an account, the customer's postal code, the
grant). Everything else — a :class:`~config.errors.TryLater` (429, 5xx, timeouts, a busy
document), a :class:`~config.errors.Misconfigured` service or setting, a database blip that
is no Koppel error at all — is retried with backoff by Dramatiq's Retries middleware
(docs/architecture.md#failures-are-data).
"""

from __future__ import annotations

from clients.errors import ReauthorizationNeeded
from config.errors import NeedsPerson, TryLater


class PermanentFailure(NeedsPerson):
    """Raised by an actor to dead-letter its message at once (the actors' ``throws``)."""

    def __init__(self, error_class: str, reason: str) -> None:
        super().__init__(reason)
        self.error_class = error_class
        self.reason = reason


class NotYetPossible(TryLater):
    """Something this document depends on is not there yet (a credit note's invoice is not
    posted): retry later, with backoff, rather than fail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    permanent = as_permanent(error)
    if permanent is not None:
        return permanent.error_class, permanent.reason
    if isinstance(error, NotYetPossible):
        return "NotYetPossible", error.reason
    return type(error).__name__, str(error) or type(error).__name__
