"""Koppel's one error tree: every Koppel error says, by its marker, what its caller must do.

Every exception class Koppel defines derives from :class:`KoppelError` through exactly one
marker (``tests/test_error_tree.py`` walks them all). The marker is the whole decision, so
a new error class is sorted by the base it names, with no list to extend::

    KoppelError
    ├── NeedsPerson     a person must change something first; the consumer dead-letters now
    │   ├── clients.errors.DataError (NotFound, Conflict, UnreadableAnswer)   4xx
    │   ├── clients.errors.ReauthorizationNeeded                              401, grant gone
    │   ├── translation.errors.TranslationError (UnmappedTaxRate, MissingAccount,
    │   │       UnsupportedDocument, NothingToPost, CustomerNotAcceptable, CustomerNotFound)
    │   ├── contracts.messages.MalformedMessage
    │   ├── consumers.errors.PermanentFailure
    │   ├── consumers.errors.WaitedTooLong       a wait outlasted its limit
    │   ├── store.connections.UnknownConnection (AmbiguousConnection)
    │   ├── store.token_store.TokenKeyError
    │   ├── store.numbers.SequenceExhausted     no Visma number left for Koppel to allocate
    │   └── ops: ConnectError, CallbackError, StateRefused, StartDateError (PeriodError),
    │            NoSuchDeadLetter
    ├── TryLater        nothing is wrong with the request; the same attempt may succeed later
    │   ├── clients.errors.TransientError (RateLimited, AmbiguousWrite)        429, 5xx, timeout
    │   ├── config.unreachable.ServiceUnreachable
    │   ├── store.writes.Busy (NotListedYet)
    │   ├── store.rate_budget.TurnLater         a budget turn far off; the consumer defers
    │   ├── consumers.errors.NotYetPossible
    │   ├── consumers.errors.Wait               no failure: waits, using up no retry
    │   └── ops: Stalled
    └── Misconfigured   Koppel's own setup is wrong: a KOPPEL_* setting, a service refusing
        │               Koppel's user, the schema; the operator fixes it, the message waits
        ├── config.unreachable.ServiceRefused
        ├── config.unreachable.ServiceUrlInvalid
        └── store.migrate.SchemaNotCurrent

What each caller does with them:

* ``koppel`` (``ops/cli.py``) prints any Koppel error's message, which names what is wrong
  and what to do, as one line on stderr and exits 2: whatever the marker, the operator is
  the one who acts (click's own exceptions, some Koppel errors among them, stay click's).
* A consumer (``consumers/errors.py``) dead-letters a :class:`NeedsPerson` at once with its
  message as the reason; it retries a :class:`TryLater` and a :class:`Misconfigured` with
  backoff (the message is not at fault: it goes through once the service is back or the
  setting fixed). A wait the cause announced travels with the error
  (``TransientError.retry_after_s``, ``Wait``'s delay), not with the marker.

An error whose kind depends on the answer (an API error is a 4xx that needs a person or a
5xx that passes) is sorted when it is made, not when it is caught: each client's
``error_for`` picks the class from the HTTP status and the API's error code, and
``clients.errors.ApiError`` itself is only their shared base, never raised, so it alone
carries no marker. Some errors could be read two ways and keep the sorting they always had:
``TokenKeyError`` (a token key that cannot read a connection's tokens) needs a person, so a
consumer dead-letters the messages at once and they are requeued after the fix;
``NothingToPost`` is a translation error the posting consumer records as skipped before any
sorting. See docs/architecture.md#failures-are-data.

This module imports nothing, so every layer may import it without breaking the layering
(pyproject.toml ``[tool.importlinter]``).
"""

from __future__ import annotations


class KoppelError(Exception):
    """The root of every error Koppel defines; derive through exactly one marker below."""


class NeedsPerson(KoppelError):
    """Retrying cannot help until a person changes something: the data in Teamleader or
    Visma, a mapping, the grant, or what they typed. A consumer dead-letters the message at
    once with the message of this error as the reason."""


class TryLater(KoppelError):
    """Nothing is wrong with the request: the same attempt may succeed later (a service
    down or busy, a rate limit, a document locked by another worker). Retried with backoff."""


class Misconfigured(KoppelError):
    """Koppel's own setup is wrong (a ``KOPPEL_*`` setting, a service refusing Koppel's user
    or lacking its database, the schema behind): the message says which setting or command
    fixes it. The command stops with that sentence; a consumer's message waits (retried)."""


#: The markers, one of which every Koppel error class has.
MARKERS: tuple[type[KoppelError], ...] = (NeedsPerson, TryLater, Misconfigured)
