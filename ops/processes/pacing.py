"""How often a connection's rounds may come, by the Teamleader calls they make.

A round reads four lists (more when they page), and the consumers then fetch every
document it found from the same Teamleader budget of 200 calls a minute. A connection
polled every second would spend 240 calls a minute on its lists alone: the budget would
queue its own consumers' calls behind them, and a new invoice would wait longer the
longer that went on. So the rounds draw on a token bucket holding ``poll_budget_share``
of the connection's budget: full, it lets short intervals run as set (a burst of rounds
costs nothing the consumers need then); empty, rounds come only as fast as the share
refills (at 200 calls per 61 s and a share of 0.5, a round of 4 calls every 2.4 s), and
the consumers keep the rest of the budget whatever the interval says
(docs/architecture.md#many-connections).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float  # calls the rounds may still make now
    at: float  # time.monotonic() of that count


@dataclass
class RoundPacing:
    """The rounds' share of each connection's Teamleader budget, as token buckets."""

    #: Most of a connection's budget its rounds may spend (0..1], ``poll_budget_share``.
    share: float
    #: Connections whose next round was ever held back beyond their interval.
    held_back: set[uuid.UUID] = field(default_factory=set)
    _buckets: dict[uuid.UUID, _Bucket] = field(default_factory=dict)

    def spend(
        self,
        connection_id: uuid.UUID,
        calls: int,
        now: float,
        calls_per_window: int,
        window_s: float,
    ) -> float:
        """Record a round of ``calls`` Teamleader calls that ended at ``now``
        (``time.monotonic()``); the earliest moment the connection's next whole round may
        start, on a budget of ``calls_per_window`` calls per ``window_s`` seconds."""
        capacity = self.share * calls_per_window
        refill_per_s = capacity / window_s
        bucket = self._buckets.get(connection_id) or _Bucket(capacity, now)
        refilled = min(capacity, bucket.tokens + (now - bucket.at) * refill_per_s)
        # A round costs what it cost: the bucket may go into debt, and the next round waits
        # until the debt is paid back.
        bucket.tokens, bucket.at = refilled - calls, now
        self._buckets[connection_id] = bucket
        return now + max(0.0, -bucket.tokens) / refill_per_s
