"""`Config`: everything one run needs, resolved once. Commands and `run()` only build this."""
from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

Backend = Literal["aio", "threads"]
LoopName = Literal["auto", "asyncio", "uvloop"]


class ConfigError(ValueError):
    """A bad option value; the message says which option and why."""


def parse_address(value: str, default_port: int, what: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, `:port`, `port` or `host` -> (host, port)."""
    text = value.strip()
    if not text:
        raise ConfigError(f"{what}: empty address")
    if text.isdigit():
        return "0.0.0.0" if what == "HTTP" else "[::]", int(text)
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise ConfigError(f"{what}: {value!r} has an unclosed '['")
        host, rest = text[: end + 1], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ConfigError(f"{what}: cannot parse {value!r}")
    elif text.count(":") > 1:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise ConfigError(f"{what}: cannot parse {value!r}; write IPv6 as [addr]:port") from None
        host, port_text = f"[{text}]", ""
    else:
        host, _, port_text = text.partition(":")
    if not port_text:
        port = default_port
    elif port_text.isdigit() and 0 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise ConfigError(f"{what}: {port_text!r} in {value!r} is not a port number (0-65535)")
    return host or ("0.0.0.0" if what == "HTTP" else "[::]"), port


@dataclass
class Config:
    """One run of the hybrid server.

    `grpc_address` and `http_address` are `host:port` strings (`[::]:0` and friends
    accepted); `http_address=None` serves gRPC only. Values left at `None` are filled
    from `settings.GRPC_FRAMEWORK` by `resolve()`.
    """

    grpc_address: str | None = None
    http_address: str | None = None
    backend: Backend = "aio"
    max_workers: int = 10
    grace: float | None = None
    drain_delay: float | None = None
    loop: LoopName = "auto"
    # Lifecycle extras.
    dev: bool = False
    workers: int = 1
    reflection: bool | None = None
    health: bool | None = None
    # gRPC server construction; None: from GRPC_FRAMEWORK.
    handlers_hook: Callable[[Any], Any] | str | None = None
    server_options: list[tuple[str, Any]] | None = None
    interceptors: list[Any] | None = None
    maximum_concurrent_rpcs: int | None = None
    # HTTP side.
    asgi_app: Any = None  # an ASGI app or import string; None: ASGI_APPLICATION or Django's
    healthz_path: str | None = "/healthz"
    readyz_path: str | None = "/readyz"
    serve_static: bool | None = None  # None: when DEBUG and staticfiles is installed
    # TLS (gRPC, and HTTP unless http_tls is False).
    tls_cert_chain_pairs: list[tuple[str, str]] | None = None
    tls_root_certificates: str | None = None
    tls_require_client_auth: bool | None = None
    http_tls: bool = True
    # Output.
    bind_retry: float = 0.0  # seconds to keep retrying a busy gRPC port (a reload's predecessor)
    ready_fd: int | None = None  # a supervised child writes one byte here once serving
    banner: bool = True
    access_log: bool = False

    # Filled by resolve().
    grpc_host: str = field(default="", init=False)
    grpc_port: int = field(default=0, init=False)
    http_host: str = field(default="", init=False)
    http_port: int = field(default=0, init=False)
    resolved: bool = field(default=False, init=False)

    def replace(self, **changes: Any) -> "Config":
        config = dataclasses.replace(self, **changes)
        config.resolved = False
        return config

    def resolve(self) -> "Config":
        """Fill defaults from Django settings and check every value once.

        Django must be set up; the result is a copy, so a Config can be reused.
        """
        from django_socio_grpc.settings import grpc_settings

        config = dataclasses.replace(self)
        if config.grpc_address is None:
            config.grpc_address = f"[::]:{grpc_settings.GRPC_CHANNEL_PORT}"
        config.grpc_host, config.grpc_port = parse_address(config.grpc_address, grpc_settings.GRPC_CHANNEL_PORT, "gRPC")
        if config.http_address is not None:
            config.http_host, config.http_port = parse_address(config.http_address, 8000, "HTTP")
        if config.grace is None:
            config.grace = float(grpc_settings.GRACE_PERIOD)
        if config.drain_delay is None:
            config.drain_delay = float(grpc_settings.DRAIN_DELAY)
        if config.health is None:
            config.health = bool(grpc_settings.ENABLE_HEALTH_CHECK)
        if config.reflection is None:
            config.reflection = bool(grpc_settings.ENABLE_REFLECTION)
        if config.handlers_hook is None:
            # Imported by the gRPC side when serving: a supervisor never imports user code.
            config.handlers_hook = grpc_settings.raw("ROOT_HANDLERS_HOOK")
        if config.server_options is None:
            config.server_options = [tuple(option) for option in grpc_settings.SERVER_OPTIONS]
        if config.interceptors is None:
            config.interceptors = list(grpc_settings.SERVER_INTERCEPTORS)
        if config.maximum_concurrent_rpcs is None:
            config.maximum_concurrent_rpcs = grpc_settings.MAXIMUM_CONCURRENT_RPCS
        if config.tls_cert_chain_pairs is None:
            config.tls_cert_chain_pairs = [tuple(pair) for pair in grpc_settings.PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH]
        if config.tls_root_certificates is None:
            config.tls_root_certificates = grpc_settings.ROOT_CERTIFICATES_PATH
        if config.tls_require_client_auth is None:
            config.tls_require_client_auth = bool(grpc_settings.REQUIRE_CLIENT_AUTH)
        if config.healthz_path == "/healthz":
            config.healthz_path = grpc_settings.HEALTHZ_PATH
        if config.readyz_path == "/readyz":
            config.readyz_path = grpc_settings.READYZ_PATH
        for name in ("grace", "drain_delay"):
            if getattr(config, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(config, name)}")
        if config.max_workers < 1:
            raise ConfigError(f"max_workers must be >= 1, got {config.max_workers}")
        if config.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {config.workers}")
        if config.backend not in ("aio", "threads"):
            raise ConfigError(f"backend must be 'aio' or 'threads', got {config.backend!r}")
        if config.loop not in ("auto", "asyncio", "uvloop"):
            raise ConfigError(f"loop must be auto, asyncio or uvloop, got {config.loop!r}")
        config.resolved = True
        return config

    @property
    def use_uvloop(self) -> bool:
        if self.loop == "asyncio":
            return False
        try:
            import uvloop  # noqa: F401
        except ImportError:
            if self.loop == "uvloop":
                raise ConfigError("--loop uvloop: uvloop is not installed (pip install uvloop)") from None
            return False
        return True

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert_chain_pairs)
