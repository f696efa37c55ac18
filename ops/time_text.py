"""How the command line writes a moment and a length of time: ``when``, ``duration``, ``ago``."""

from __future__ import annotations

from datetime import UTC, datetime


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def duration(seconds: float | None) -> str:
    """``42 s``, ``7 min``, ``3.5 h``, ``2.0 d``."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def ago(moment: datetime | None, now: datetime) -> str:
    """``12 s ago``, ``in 55 min``, ``never``: a moment told relative to ``now``."""
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    return f"{duration(seconds)} ago" if seconds >= 0 else f"in {duration(-seconds)}"
