"""Whether a server could listen on a port, asked before it tries."""

from __future__ import annotations

import errno
import socket


def cannot_listen(host: str, port: int) -> str | None:
    """Why nothing could listen on ``host:port`` now ("in use", …), or None when it could.

    A trial bind with ``SO_REUSEADDR``, as uvicorn binds, so a port left in TIME_WAIT by a
    server that just stopped counts as free. Port 0 (any free port) is always free."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return f"unknown host: {error.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "the port is in use"
            return error.strerror or str(error)
    return None
