"""A webhook's body, read within limits: never more than the cap, never for longer than the
deadline, so neither a huge body nor a trickling one holds the receiver's memory or a slot.

A Content-Length over the cap is refused before a byte of the body is read; without one
(chunked), the body is refused as soon as what arrived passes the cap. Either way the answer
closes the connection, so the rest is never read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse


@dataclass(frozen=True)
class Refusal:
    """Why a body was not read: the status and the one sentence the client gets."""

    status: int
    error: str

    def response(self) -> JSONResponse:
        # Connection: close, or uvicorn would read (and drop) the rest of the body.
        return JSONResponse({"error": self.error}, self.status, headers={"Connection": "close"})


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes | Refusal:
    """The body of ``request``, or why it was refused (413 over ``max_bytes``, 408 not in
    within ``timeout_s``, 400 for a Content-Length that is not a number)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            return Refusal(400, f"Content-Length {declared[:20]!r} is not a number of bytes")
        if int(declared) > max_bytes:
            return Refusal(413, f"the body is over {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    return Refusal(413, f"the body is over {max_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        return Refusal(408, f"the body did not arrive within {timeout_s:g} s")
    except ClientDisconnect:
        return Refusal(400, "the client left before sending the whole body")
    return b"".join(chunks)
