"""Print a benchmark's table and append it to ``bench/RESULTS.md`` with its provenance.

Every entry says when it ran (UTC), on which commit (``+dirty`` when the tree had changes),
on what machine (cores, memory) and with the exact command, so two entries can be compared
or the run repeated.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=RESULTS_FILE.parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit() -> str:
    sha = _git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{sha}+dirty" if _git("status", "--porcelain", "--untracked-files=no") else sha


def machine() -> str:
    """Cores and memory as the benchmark saw them (GiB, from /proc/meminfo)."""
    memory_gib = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = f"{int(line.split()[1]) / 1024 / 1024:.0f}"
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {memory_gib} GiB"


def command_line() -> str:
    """The command as typed (``python -m bench.x --flag``), for the record."""
    argv = list(sys.argv)
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        argv = ["python", "-m", spec.name.removesuffix(".__main__"), *argv[1:]]
    return shlex.join(argv)


def table_markdown(table: Table) -> str:
    """The table as Markdown (rich renders for a terminal; RESULTS.md wants pipes)."""
    headers = [str(column.header) for column in table.columns]
    cells = [[str(cell) for cell in column._cells] for column in table.columns]
    rows = list(zip(*cells, strict=True)) if cells else []
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(title: str, tables: list[Table], notes: list[str] | None = None) -> str:
    """Print the tables and append them to RESULTS.md; return the Markdown appended."""
    console = Console()
    for table in tables:
        console.print(table)
    for note in notes or []:
        console.print(note)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"## {title} — {now}",
        "",
        f"- commit: `{commit()}`",
        f"- machine: {machine()}",
        f"- command: `{command_line()}`",
        "",
    ]
    for table in tables:
        if table.title:
            parts += [f"**{table.title}**", ""]
        parts += [table_markdown(table), ""]
    parts += [f"{note}" for note in notes or []]
    text = "\n".join(parts).rstrip() + "\n\n"
    if not RESULTS_FILE.exists():
        RESULTS_FILE.write_text(
            "# Benchmark results\n\nAppended by each `python -m bench.<name>` run, newest last.\n\n"
        )
    with RESULTS_FILE.open("a") as results:
        results.write(text)
    return text
