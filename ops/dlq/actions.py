"""What ``koppel dlq`` does, kept apart from its printing: reconcile the ``.XQ`` queues with
the ``failures`` table, requeue and purge.

Order is what keeps a dead letter from being lost:

- requeue: the row is marked ``requeued`` (and the message waiting again) *before* the
  publish, so a message that fails again at once opens a new row instead of refreshing the
  old one just before it is closed; a refused publish reopens the row; only after RabbitMQ's
  confirm is the old message taken out of the XQ. A crash after the publish leaves at worst a
  duplicate message (the exactly-once write makes it harmless); a crash before it leaves the
  row ``requeued`` with its XQ message still there, which :func:`reconcile` reopens.
- purge: the XQ message goes first, then the row; a crash between leaves an open row whose
  stored envelope can still be requeued or purged again.

:func:`reconcile` adopts what only the XQ knows: a dead letter with no row (the failure
middleware could not write it) or with a ``requeued`` row older than
:data:`REQUEUE_GRACE_S` becomes an open row, so every dead letter has an id to act on. One
whose message has since succeeded, whose row was purged or resolved, or which a newer
failure of the same message replaced, is removed from the XQ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from psycopg.errors import ForeignKeyViolation

from config import Settings
from contracts.messages import MalformedMessage, SyncMessage, parse
from ops.dlq import queue as dead_letters
from ops.dlq.queue import DeadLetter, Publisher
from store import connections, document_history, failures, message_log, outcomes
from store.db import Pool
from store.failures import Failure

#: A ``requeued`` row whose old message is still in the XQ this long after the requeue
#: (seconds) was interrupted between its steps; younger, it may be a requeue under way.
REQUEUE_GRACE_S = 60.0

#: Outcomes after which an old dead letter of the same version is of no use any more.
DONE_OUTCOMES = frozenset({"posted", "updated", "unchanged", "skipped", "attention"})

#: What a bookkeeper reads about a dead letter whose reason was never recorded.
UNRECORDED_REASON = (
    "This message was dead-lettered but its reason was not recorded (the database write"
    " failed or a requeue was interrupted); requeue it to try again and see the reason."
)

#: What a bookkeeper reads about a dead letter whose connection is not in the database.
ORPHAN_REASON = (
    "Its connection {connection_id} is not in this database (removed, or the database was"
    " recreated while the message waited in RabbitMQ); nothing can process it: purge it"
    " with `koppel dlq purge ID`."
)


@dataclass
class Reconciled:
    #: Message ids in the XQs after reconciling.
    in_xq: set[str] = field(default_factory=set)
    #: Rows opened for dead letters only the XQ knew.
    adopted: list[int] = field(default_factory=list)
    #: An interrupted requeue's row id → the open row adopted in its place.
    replaced: dict[int, int] = field(default_factory=dict)
    #: Stale dead letters taken out of the XQ (their document succeeded, or was purged).
    removed: int = 0


def reconcile(settings: Settings, pool: Pool, *, change: bool = True) -> Reconciled:
    """Bring the XQs and the table in step (``change=False``: only look)."""
    letters = dead_letters.peek(settings)
    rows = failures.by_message_ids(pool, [letter.message_id for letter in letters])
    result = Reconciled(in_xq={letter.message_id for letter in letters})
    if not change:
        return result
    stale: dict[str, list[str]] = {}
    # PostgreSQL's clock: the rows' last_seen is stamped by it.
    grace = document_history.database_now(pool) - timedelta(seconds=REQUEUE_GRACE_S)
    # A newer message of the same version that has an open row (it failed again after a
    # requeue) supersedes an older dead letter still in the XQ.
    listed = {(f.queue, f.dedupe_key) for f in failures.listing(pool) if f.dedupe_key}
    # The letters to decide on (a row open or needing attention already has its id), with
    # their outcomes read in one statement.
    undecided = [
        (letter, rows.get(letter.message_id), _parsed(letter))
        for letter in letters
        if letter.message_id
        and not (
            letter.message_id in rows and rows[letter.message_id].status in ("open", "attention")
        )
    ]
    outcomes_now = message_log.outcomes_of(
        pool, [parsed.dedupe_key for _, _, parsed in undecided if parsed is not None]
    )
    for letter, row, parsed in undecided:
        superseded = parsed is not None and (letter.queue, parsed.dedupe_key) in listed
        done = parsed is not None and outcomes_now.get(parsed.dedupe_key) in DONE_OUTCOMES
        if done or superseded or (row is not None and row.status in ("purged", "resolved")):
            stale.setdefault(letter.queue, []).append(letter.message_id)
        elif row is not None and row.status == "requeued" and row.last_seen > grace:
            continue  # a requeue under way
        else:
            earlier = failures.get(pool, row.id) if row is not None else None
            adopted = _adopt(pool, letter, parsed, earlier)
            result.adopted.append(adopted)
            if earlier is not None:
                result.replaced[earlier.id] = adopted
    for queue, ids in stale.items():
        removed = dead_letters.remove(settings, queue, ids)
        result.removed += len(removed)
        result.in_xq -= removed
    return result


def _parsed(letter: DeadLetter) -> SyncMessage | None:
    args = letter.envelope.get("args") or [None]
    try:
        return parse(letter.queue, args[0])
    except MalformedMessage:
        return None


def _adopt(
    pool: Pool, letter: DeadLetter, parsed: SyncMessage | None, earlier: Failure | None
) -> int:
    """An open row for ``letter``, with the reason of its ``earlier`` row when it had one
    (an interrupted requeue), else saying the reason was never recorded."""
    attempts = int((letter.envelope.get("options") or {}).get("retries", 0)) or 1
    error_class, reason = (
        (earlier.error_class, earlier.reason) if earlier else ("Unrecorded", UNRECORDED_REASON)
    )
    failure = outcomes.Failure(error_class, reason, letter.envelope, attempts)
    if parsed is not None:
        try:
            opened = outcomes.record(
                pool,
                parsed,
                "failed",
                reason,
                {"error": error_class, "adopted_from": f"{letter.queue}.XQ"},
                failure,
            )
        except ForeignKeyViolation:
            # Its connection is gone (removed, or the database recreated) while the message
            # waited in RabbitMQ: no row may name it, so the orphan gets a row of no
            # connection, listed with the id its message names, and can be purged.
            return _adopt_orphan(pool, letter, parsed, attempts)
        assert opened is not None  # a failure was given
        return opened
    return failures.record(
        pool,
        connection_id=None,
        queue=letter.queue,
        document_type=None,
        document_id=None,
        dedupe_key=f"message:{letter.message_id}",
        message=letter.envelope,
        error_class=error_class,
        reason=reason,
        attempts=attempts,
    )


def _adopt_orphan(pool: Pool, letter: DeadLetter, parsed: SyncMessage, attempts: int) -> int:
    return failures.record(
        pool,
        connection_id=None,
        queue=letter.queue,
        document_type=parsed.document_type,
        document_id=parsed.document_id,
        dedupe_key=parsed.dedupe_key,
        message=letter.envelope,
        error_class=failures.ORPHANED,
        reason=ORPHAN_REASON.format(connection_id=parsed.connection_id),
        attempts=attempts,
    )


@dataclass(frozen=True)
class Done:
    failure: Failure
    #: True: done; False: skipped (no longer open: another requeue or purge took it).
    applied: bool
    #: The old message was still in the XQ and is gone now.
    removed_from_xq: bool = False


def _message_id(failure: Failure) -> str:
    return str(failure.message.get("message_id", ""))


def _remove_all(settings: Settings, chosen: list[Failure]) -> set[str]:
    """Take the chosen rows' messages out of their XQs: one pass per queue."""
    by_queue: dict[str, list[str]] = {}
    for failure in chosen:
        by_queue.setdefault(failure.queue, []).append(_message_id(failure))
    removed: set[str] = set()
    for queue, ids in by_queue.items():
        removed |= dead_letters.remove(settings, queue, ids)
    return removed


def requeue(settings: Settings, pool: Pool, chosen: list[Failure]) -> list[Done]:
    """Publish each chosen open row's message again, then take the old ones out of the XQ."""
    publisher = Publisher(settings)
    published: list[Failure] = []
    skipped: list[Failure] = []
    # A requeue follows a fix, often made in Visma (an account created), where Koppel cannot
    # see it: workers must not answer from a cached chart of accounts.
    connections.reference_changed(
        pool, (failure.connection_id for failure in chosen if failure.connection_id)
    )
    try:
        for failure in chosen:
            if not failures.mark_requeued(pool, failure):
                skipped.append(failure)
                continue
            try:
                publisher.publish(dead_letters.fresh_message(failure.queue, failure.message))
            except BaseException:
                failures.undo_requeued(pool, failure)
                raise
            published.append(failure)
    finally:
        publisher.close()
        # Also after a refused publish: what was published must not stay twice.
        removed = _remove_all(settings, published)
    return [
        *(Done(f, applied=True, removed_from_xq=_message_id(f) in removed) for f in published),
        *(Done(f, applied=False) for f in skipped),
    ]


def purge(settings: Settings, pool: Pool, chosen: list[Failure]) -> list[Done]:
    """Give up on each chosen open row: its XQ message goes first, then the row is marked."""
    removed = _remove_all(settings, chosen)
    return [
        Done(f, applied=failures.mark_purged(pool, f), removed_from_xq=_message_id(f) in removed)
        for f in chosen
    ]
