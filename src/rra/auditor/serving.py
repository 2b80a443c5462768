"""Running uvicorn with TCP_NODELAY on every accepted connection, also with ``--workers N``.

With several workers uvicorn binds the listening socket itself as ``socket(family)`` (protocol 0).
asyncio only sets TCP_NODELAY on sockets whose ``proto`` is IPPROTO_TCP, and accepted sockets
inherit the listener's Python-level ``proto``, so every response waited on Nagle's algorithm and
the client's delayed ACK: ~40 ms per request after the first on a kept-alive connection (measured
with bench/ingest.py; uvicorn issue 3149). Re-wrapping the bound socket with IPPROTO_TCP fixes it.
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


class NoDelayConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        bound = super().bind_socket()
        if bound.family in (socket.AF_INET, socket.AF_INET6) and bound.proto != socket.IPPROTO_TCP:
            return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, bound.detach())
        return bound


def run_uvicorn(config: uvicorn.Config) -> bool:
    """``uvicorn.run`` for an already built config (one process, or a supervisor of workers).
    False when a single server failed to start (port in use, bad certificate)."""
    server = uvicorn.Server(config=config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
            return True
        server.run()
    except KeyboardInterrupt:
        return True
    return server.started
