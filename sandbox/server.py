"""Run both simulators in one process, each on its own port, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from sandbox.options import SandboxOptions


def build_apps(dataset: dict[str, Any], options: SandboxOptions) -> tuple[Any, Any]:
    from sandbox.teamleader.app import create_app as create_teamleader
    from sandbox.visma.app import create_app as create_visma

    return create_teamleader(dataset.get("teamleader") or {}, options), create_visma(
        dataset.get("visma") or {}, options
    )


def serve(
    dataset: dict[str, Any],
    options: SandboxOptions,
    *,
    host: str,
    teamleader_port: int,
    visma_port: int,
) -> None:
    teamleader_app, visma_app = build_apps(dataset, options)

    def server(app: Any, port: int) -> uvicorn.Server:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        return uvicorn.Server(config)

    async def main() -> None:
        await asyncio.gather(
            server(teamleader_app, teamleader_port).serve(),
            server(visma_app, visma_port).serve(),
        )

    asyncio.run(main())
