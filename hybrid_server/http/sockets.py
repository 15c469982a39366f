"""Listening sockets bound before anything serves (cheap to import: supervisors use it)."""
from __future__ import annotations

import socket
from dataclasses import dataclass

from hybrid_server.config import Config
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


@dataclass
class Listeners:
    """The HTTP-side sockets a supervisor binds once and its children inherit."""

    http: socket.socket | None = None
    probe: socket.socket | None = None

    @classmethod
    def bind(cls, config: Config) -> Listeners:
        listeners = cls()
        try:
            if config.http_host is not None:
                listeners.http = bind_socket(config.http_host, config.http_port)
            if config.probe_host is not None:
                listeners.probe = bind_socket(config.probe_host, config.probe_port)
        except BaseException:
            listeners.close()
            raise
        return listeners

    def fds(self) -> dict[str, int]:
        return {name: sock.fileno() for name, sock in (("http", self.http), ("probe", self.probe)) if sock is not None}

    @classmethod
    def adopt(cls, fds: dict[str, int]) -> Listeners:
        """In a child: the inherited file descriptors as sockets."""
        return cls(**{name: socket.socket(fileno=fd) for name, fd in fds.items()})

    def close(self) -> None:
        for sock in (self.http, self.probe):
            if sock is not None:
                sock.close()
        self.http = self.probe = None
