"""Several connections of one Visma application backfilling at once (issue 12 §4).

``python -m bench.backfill --connections 3 [--small]`` runs this instead of the single
connection runs: each connection is a Teamleader account and a Visma company of its own,
holding the same documents; all are backfilled at the same time by the same ``koppel work``
processes. Visma's limit counts per application and endpoint, so every posting of every
connection spends one budget (600 calls per 60 s on
``/v2/customerledgeritems/customerledgeritemswithvoucher``); each connection may take at
most ``visma_connection_share`` of it. Reported per connection: postings, when its last
document settled, and its postings in the busiest window (its peak share of the endpoint);
and the 429s Visma answered (goal 0).
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.harness import bench_environment
from ops.connect.connecting import connect_sandbox
from store.connections import Connection

#: Visma's limit, unscaled: calls per window on one endpoint, and the window (s).
VISMA_CALLS = 600
VISMA_WINDOW_S = 60.0


def peak_in_window(moments: list[float], window_s: float) -> int:
    """The most of ``moments`` (s, sorted) that fall in any window of ``window_s``."""
    best, start = 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def run_shared(
    path: str, connections: int, processes: int, threads: int, time_scale: float
) -> list[dict[str, Any]]:
    """One run; a row per connection and a last row for them all."""
    data = json.loads(Path(path).read_text())
    with bench_environment(
        f"shared{connections}", sandbox_args=["--data", path], time_scale=time_scale
    ) as bench:
        made: list[Connection] = [bench.connect()]
        for number in range(1, connections):
            account = httpx.post(
                f"{bench.teamleader_url}/_sandbox/accounts", json=data["teamleader"], timeout=300
            )
            account.raise_for_status()
            company = httpx.post(
                f"{bench.visma_url}/_sandbox/companies", json=data.get("visma") or {}, timeout=300
            )
            company.raise_for_status()
            made.append(
                connect_sandbox(
                    bench.settings,
                    bench.pool,
                    name=f"bench-shared-{number}",
                    sync_from=date(date.today().year - 2, 1, 1),
                    teamleader_account=account.json()["account_id"],
                    visma_company=company.json()["company_id"],
                ).connection
            )
        time.sleep(VISMA_WINDOW_S * time_scale)  # connecting's calls leave the windows
        with bench.workers(processes, threads=threads):
            bench.sandbox_stats(reset=True)
            started = time.monotonic()
            bench.poll_once()
            for connection in made:
                bench.wait_settled(connection)
            finished = time.monotonic()
            stats = bench.sandbox_stats()
        rows: list[dict[str, Any]] = []
        window_s = VISMA_WINDOW_S * time_scale
        with bench.pool.connection() as conn:
            for connection in made:
                done = conn.execute(
                    "SELECT extract(epoch FROM finished_at)::float8 AS at FROM messages"
                    " WHERE connection_id = %s AND outcome = 'posted'"
                    " AND document_type IN ('invoice', 'credit_note') ORDER BY finished_at",
                    [connection.id],
                ).fetchall()
                moments = [row["at"] for row in done]
                failed = conn.execute(
                    "SELECT count(*) AS n FROM messages WHERE connection_id = %s"
                    " AND outcome = 'failed'",
                    [connection.id],
                ).fetchone()
                rows.append(
                    {
                        "connection": connection.name,
                        "postings": len(moments),
                        "failed": int(failed["n"]) if failed else 0,
                        "peak postings / window": peak_in_window(moments, window_s),
                        "share of 600": peak_in_window(moments, window_s) / VISMA_CALLS,
                    }
                )
    posting_calls = int(
        stats["visma"]["by_endpoint"].get(
            "/v2/customerledgeritems/customerledgeritemswithvoucher", 0
        )
    )
    rows.append(
        {
            "connection": f"all {connections}",
            "postings": sum(r["postings"] for r in rows),
            "failed": sum(r["failed"] for r in rows),
            # Every posting call to the endpoint, over the whole run (not a window's peak).
            "peak postings / window": posting_calls,
            "share of 600": float("nan"),
            "elapsed s": (finished - started) / time_scale,
            "visma calls": int(stats["visma"]["calls"]),
            "visma 429": int(stats["visma"]["by_status"].get("429", 0)),
            "tl 429": int(stats["teamleader"]["by_status"].get("429", 0)),
        }
    )
    return rows
