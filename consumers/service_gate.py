"""Messages held back in this process while an API is down, but for one probe a second.

Without it, every message waiting for Visma to answer again (``WaitingFor.SERVICE``) would
on each try first read its document from Teamleader, whose 200 calls a minute are shared by
every process (store/rate_budget.py): twenty waiting invoices spent Teamleader's budget in
seconds and booked it minutes ahead, so after a 15 s Visma outage everything, the poller
included, queued 20 s for Teamleader (bench/chaos.py found it). Here, after an API answered
a 5xx, a timeout or a lost connection, a message waits at once without a call, and only one
every :data:`PROBE_S` tries: the first that succeeds opens the gate again.

The probe asks the API that failed first (``down_service``): a probe of Visma reads its
company settings before the message reads anything from Teamleader, so a Visma outage
costs Teamleader nothing. Before, each process's probe read a document from Teamleader
every second, which with the poller's rounds booked Teamleader's budget a window ahead
during a 90 s outage, and the backlog then waited for it (bench/chaos.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: While an API is down, one message a probe interval (s) tries it.
PROBE_S = 1.0


class ServiceGate:
    def __init__(self, probe_s: float = PROBE_S, clock: Callable[[], float] = time.monotonic):
        self.probe_s = probe_s
        self._clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._last_probe = float("-inf")
        #: The API whose failure closed the gate ("visma", "teamleader"; None while open or
        #: when the failure did not say).
        self.down_service: str | None = None

    def admit(self) -> bool:
        """Whether a message may try the APIs now: always while they are up; while one is
        down, one message every ``probe_s``."""
        with self._lock:
            if not self._down:
                return True
            now = self._clock()
            if now - self._last_probe >= self.probe_s:
                self._last_probe = now
                return True
            return False

    def failed(self, service: str | None = None) -> None:
        """An API (``service``) answered a 5xx, timed out or lost the connection."""
        with self._lock:
            self.down_service = service
            if not self._down:
                self._down = True
                self._last_probe = self._clock()

    def succeeded(self) -> None:
        """A message went through: the APIs answer."""
        with self._lock:
            self._down = False
            self.down_service = None


#: The gate of this process (a ``koppel work`` process consumes its queues on threads).
GATE = ServiceGate()
