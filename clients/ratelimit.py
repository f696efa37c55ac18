"""Client-side pacing so that a client alone stays under an API's limit.

A sliding window per key (Teamleader: the account; Visma: the endpoint). ``acquire`` blocks
until a call fits; ``hold_until`` parks a key after the server said how long to wait (a 429,
or Teamleader's ``X-RateLimit-Remaining: 0``). Thread-safe: the consumers run actors on
several threads in one process. Sharing one budget across processes is the store's job
(``store.rate_budget.SharedRateBudget``); both fit :class:`Limiter`.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    """What the request loop needs from pacing (``clients/http.py``)."""

    def acquire(self, key: str) -> float:
        """Wait until one more call on ``key`` fits; return the seconds waited."""
        ...

    def hold_until(self, key: str, seconds_from_now: float) -> None:
        """Send nothing on ``key`` for the given time (the server asked us to wait)."""
        ...

    def release(self, key: str) -> None:
        """The call acquired last on ``key`` by this thread was answered (or failed)."""
        ...


class SlidingWindowLimiter:
    def __init__(
        self,
        calls_per_window: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.calls_per_window = calls_per_window
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = defaultdict(deque)
        self._held_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Wait until one more call on ``key`` fits; return the seconds waited."""
        waited_s = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait_s = self._wait_needed(key, now)
                if wait_s <= 0:
                    self._sent[key].append(now)
                    return waited_s
            self._sleep(wait_s)
            waited_s += wait_s

    def hold_until(self, key: str, seconds_from_now: float) -> None:
        """Send nothing on ``key`` for the given time (the server asked us to wait)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds_from_now)
            self._held_until[key] = max(until, self._held_until.get(key, 0.0))

    def release(self, key: str) -> None:
        """Nothing to do: a call is counted when it is acquired (the window's 1 s margin
        covers the time it takes to reach the server)."""

    def _wait_needed(self, key: str, now: float) -> float:
        held_s = self._held_until.get(key, 0.0) - now
        sent = self._sent[key]
        while sent and sent[0] <= now - self.window_s:
            sent.popleft()
        window_s = 0.0
        if len(sent) >= self.calls_per_window:
            window_s = sent[0] + self.window_s - now
        return max(held_s, window_s)
