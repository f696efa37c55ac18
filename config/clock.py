"""Koppel's calendar day: ``KOPPEL_TODAY`` when it is set, else the machine's local date.

Only *dates* go through here (which month, quarter or fiscal year "now" is). Timestamps that
order events (cursors, locks, retries) always use the real clock, so pinning the day never
makes a change look older or newer than it is.
"""

from __future__ import annotations

from datetime import date

from config.settings import get_settings


def today() -> date:
    """The day Koppel takes as today."""
    return get_settings().today or date.today()
