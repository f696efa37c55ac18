"""How long ``koppel --help`` takes, against Python's own start and against importing every
command (what ``--help`` cost before the commands were loaded lazily, ops/cli.py).

Each row is the median and the best of ``--runs`` fresh processes (wall clock, ms); the
ratio is against the goal of 250 ms for ``koppel --help`` (issue 11). Run:
``python -m bench.cli_startup --runs 20``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import click
from rich.table import Table

from bench.results import report

#: The goal for ``koppel --help`` (ms).
GOAL_MS = 250.0

#: Every command imported, as the eager CLI did before it printed its help.
EAGER = "from ops.cli import COMMANDS, load_command\nfor name in COMMANDS: load_command(name)"

CASES: list[tuple[str, list[str]]] = [
    ("python -c pass (the floor)", [sys.executable, "-c", "pass"]),
    ("koppel --help (lazy)", [sys.executable, "-m", "ops.cli", "--help"]),
    ("every command imported (eager, as before)", [sys.executable, "-c", EAGER]),
]


def wall_ms(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


@click.command()
@click.option("--runs", type=int, default=20, show_default=True, help="Processes per case.")
def main(runs: int) -> None:
    table = Table(title=f"CLI start-up, {runs} runs each (ms)")
    for header in ("case", "median ms", "best ms", "median / goal 250 ms", "met"):
        table.add_column(header)
    for name, argv in CASES:
        wall_ms(argv)  # warm the file cache
        times = [wall_ms(argv) for _ in range(runs)]
        median = statistics.median(times)
        table.add_row(
            name,
            f"{median:.0f}",
            f"{min(times):.0f}",
            f"{median / GOAL_MS:.2f}",
            "yes" if median <= GOAL_MS else "no",
        )
    report(
        "CLI start-up",
        [table],
        notes=[
            "- wall clock of a fresh process each run, output discarded; the eager row imports"
            " every command module, which is what `koppel --help` did before ops/cli.py loaded"
            " them lazily (0.64–0.73 s measured by hand before the change).",
        ],
    )


if __name__ == "__main__":
    main()
