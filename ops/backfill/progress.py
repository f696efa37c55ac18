"""The backfill's progress bars (reading the documents, posting them): what, bar, done/total,
documents per minute, elapsed, left."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Documents per minute, over the task's recent progress."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("–/min")
        return Text(f"{speed * 60:,.0f}/min")


def rate_columns(label: str) -> list[ProgressColumn]:
    """A progress bar's columns: what, bar, done/total, rate per minute, elapsed, left."""
    return [
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    ]
