"""The simulators' side of rate limiting: count calls in a sliding window per key."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    #: Seconds until the oldest counted call leaves the window (when one more call fits).
    reset_in_s: float


class SlidingWindow:
    """``limit`` calls per ``window_s`` seconds per key; a refused call is not counted."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> Verdict:
        with self._lock:
            now = self._clock()
            calls = self._calls[key]
            while calls and calls[0] <= now - self.window_s:
                calls.popleft()
            allowed = len(calls) < self.limit
            if allowed:
                calls.append(now)
            reset_in_s = (calls[0] + self.window_s - now) if calls else 0.0
            return Verdict(allowed, self.limit, self.limit - len(calls), max(0.0, reset_in_s))
