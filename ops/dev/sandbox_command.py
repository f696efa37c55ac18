"""``koppel sandbox``: serve both simulators with generated or loaded data."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from config import get_settings
from ops.dev.ports import cannot_listen
from sandbox import clock
from sandbox.dataset_file import DatasetError, load_dataset, validate_dataset
from sandbox.generate import Size, generate_dataset
from sandbox.options import SandboxOptions


@click.command("sandbox")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for generated data.")
@click.option(
    "--size",
    type=click.Choice(["small", "medium", "large"]),
    default="small",
    show_default=True,
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Load this data set instead of generating one.",
)
@click.option(
    "--empty", is_flag=True, help="Start with no Teamleader data and the default company."
)
@click.option("--host", default=None, help="Address to listen on (default from settings).")
@click.option("--teamleader-port", type=int, default=None)
@click.option("--visma-port", type=int, default=None)
@click.option(
    "--time-scale",
    type=float,
    default=None,
    help="Multiply rate-limit windows (0.1 makes a minute 6 s).",
)
@click.option("--no-rate-limits", is_flag=True, help="Do not enforce the APIs' rate limits.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The simulators' calendar day, YYYY-MM-DD (default: KOPPEL_TODAY, else the date).",
)
def sandbox_command(
    seed: int,
    size: Size,  # one of the click.Choice above
    data_file: Path | None,
    empty: bool,
    host: str | None,
    teamleader_port: int | None,
    visma_port: int | None,
    time_scale: float | None,
    no_rate_limits: bool,
    today: datetime | None,
) -> None:
    """Serve the Teamleader and Visma simulators over HTTP until interrupted."""
    from sandbox.server import serve

    settings = get_settings()
    # Generated documents and the default company's fiscal years are anchored on this day.
    clock.pin_today(today.date() if today else settings.today)
    try:
        if data_file is not None:
            dataset = load_dataset(data_file)
        elif empty:
            dataset = validate_dataset({})
        else:
            dataset = validate_dataset(generate_dataset(seed, size))
    except DatasetError as exc:
        click.echo(f"koppel sandbox: the data set does not fit: {exc}", err=True)
        sys.exit(2)
    options = SandboxOptions(
        client_id=settings.sandbox_client_id,
        client_secret=settings.sandbox_client_secret.get_secret_value(),
        time_scale=time_scale if time_scale is not None else settings.sandbox_time_scale,
        rate_limits=not no_rate_limits,
    )
    host = host or settings.sandbox_host
    teamleader_port = teamleader_port or settings.sandbox_teamleader_port
    visma_port = visma_port or settings.sandbox_visma_port
    for service, port in (("teamleader", teamleader_port), ("visma", visma_port)):
        # Checked before serving: uvicorn's own bind failure ends in an asyncio traceback.
        if problem := cannot_listen(host, port):
            click.echo(
                f"koppel sandbox: cannot listen on {host}:{port} for the {service.capitalize()}"
                f" simulator ({problem}); choose another port with --{service}-port or"
                f" KOPPEL_SANDBOX_{service.upper()}_PORT",
                err=True,
            )
            sys.exit(2)
    click.echo(
        f"sandbox: Teamleader on http://{host}:{teamleader_port}, "
        f"Visma on http://{host}:{visma_port}/v2 (Ctrl-C stops)",
        err=True,
    )
    serve(dataset, options, host=host, teamleader_port=teamleader_port, visma_port=visma_port)
