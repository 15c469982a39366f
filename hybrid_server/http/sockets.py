"""Listening sockets bound before anything serves (cheap to import: supervisors use it)."""
from __future__ import annotations

import socket

from hybrid_server.lifecycle import StartupError


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind (not listen) so that both sides hold their ports before either serves."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bare, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot bind HTTP to {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock
