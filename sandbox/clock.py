"""The simulators' calendar day: the ``--today`` the sandbox was started with, else the
machine's local date.

The simulated services date what they create on that day (a voucher's default date, a
payment's date, a credit note without one) and generated data is anchored on it, so a test
or a demo can pin the calendar and get the same documents on any day. Timestamps
(``updated_at``, ``ModifiedUtc``) stay on the real clock: they order changes for pollers.
The pin is process-wide, as the sandbox is one process serving one simulated world.
"""

from __future__ import annotations

from datetime import date

_pinned: date | None = None


def pin_today(day: date | None) -> None:
    """Take ``day`` as today from now on (``None``: the machine's date again)."""
    global _pinned
    _pinned = day


def today() -> date:
    """The day the simulators take as today."""
    return _pinned or date.today()
