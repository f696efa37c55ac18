"""Moves this Python process's clock by ``KOPPEL_TIME_TRAVEL_OFFSET_S`` seconds when it is set.

``bin/test-on-dates`` puts this folder on ``PYTHONPATH``, so pytest and every Python process
it starts (the simulators, ``koppel`` commands, the demo) import it at start-up and see the
same shifted wall clock: one offset from the real clock rather than one start date, so
processes started later agree with those started earlier. ``time-machine`` moves what
Python reads as the date and time (``time.time``, ``datetime.now``, ``date.today``); the
monotonic clock stays real, so timeouts and sleeps behave. PostgreSQL and RabbitMQ keep the
machine's clock, as another server's would.
"""

from __future__ import annotations

import os
import time

_offset = os.environ.get("KOPPEL_TIME_TRAVEL_OFFSET_S")
if _offset:
    import time_machine

    # Kept in a module global: a travel that is garbage collected ends.
    TRAVEL = time_machine.travel(time.time() + float(_offset), tick=True)
    TRAVEL.start()
    # time-machine starts the ticking clock at its first reading: read it now, so the
    # offset is the same in every process whenever it first asks the time.
    time.time()
