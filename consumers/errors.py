"""Which failures are permanent (dead-letter now) and what a bookkeeper is told about them.

Permanent: the message or the data is wrong, and the same attempt cannot succeed until a
person fixes something (a mapping, an account, the customer's postal code, the grant).
Everything else — 429, 5xx, timeouts, a busy document, a database blip — is retried with
backoff by Dramatiq's Retries middleware (docs/architecture.md#failures-are-data).
"""

from __future__ import annotations

from clients.errors import DataError, ReauthorizationNeeded
from store.connections import UnknownConnection
from store.tokens import TokenKeyError
from translation.errors import TranslationError


class PermanentFailure(Exception):
    """Raised by an actor to dead-letter its message at once (the actors' ``throws``)."""

    def __init__(self, error_class: str, reason: str) -> None:
        super().__init__(reason)
        self.error_class = error_class
        self.reason = reason


class NotYetPossible(Exception):
    """Something this document depends on is not there yet (a credit note's invoice is not
    posted): retry later, with backoff, rather than fail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def as_permanent(error: BaseException) -> PermanentFailure | None:
    """The permanent failure ``error`` stands for, or None when a retry may succeed."""
    if isinstance(error, PermanentFailure):
        return error
    if isinstance(error, TranslationError):
        return PermanentFailure(type(error).__name__, error.reason)
    if isinstance(error, DataError):
        return PermanentFailure(type(error).__name__, str(error))
    if isinstance(error, ReauthorizationNeeded):
        return PermanentFailure(
            "ReauthorizationNeeded",
            f"{error}. Run `koppel connect` again to grant access, then requeue.",
        )
    if isinstance(error, TokenKeyError | UnknownConnection):
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
