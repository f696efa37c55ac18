"""The ``koppel`` command line."""

from __future__ import annotations

import click

from ops.demo import demo_command
from ops.sandbox_command import sandbox_command
from ops.work_command import work_command


@click.group()
def main() -> None:
    """Koppel: Teamleader Focus → Visma eAccounting, exactly once."""


main.add_command(sandbox_command)
main.add_command(demo_command)
main.add_command(work_command)

if __name__ == "__main__":
    main()
