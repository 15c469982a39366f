"""`Options`: what a command or `run()` asked for, unresolved; the one home of defaults.

Picklable, so a supervisor hands them to its children as they are; each serving process turns
them into a frozen `Config` once (`hybrid_server.config.resolve`). A field left `UNSET` is
filled from `settings.GRPC_FRAMEWORK` there; `None` is a value ("off"), never "not set".
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
from collections.abc import Callable
from typing import Any, Literal

from hybrid_server.records import record

Backend = Literal["aio", "threads"]
LoopName = Literal["auto", "asyncio", "uvloop"]


class Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET
DEFAULT_HTTP_ADDRESS = "127.0.0.1:8000"


@record
class Options:
    """One run as asked for. `grpc_address`/`http_address` are `host:port` strings (`[::]:0`
    and friends accepted); `http_address=None` serves gRPC only."""

    grpc_address: str | Unset = UNSET  # UNSET: [::]:GRPC_CHANNEL_PORT
    http_address: str | None = None
    probe_address: str | Unset | None = UNSET  # PROBE_ADDRESS; None: probes only on the HTTP side
    backend: Backend = "aio"
    max_workers: int = 10
    grace: float | Unset = UNSET  # GRACE_PERIOD
    drain_delay: float | Unset = UNSET  # DRAIN_DELAY
    loop: LoopName = "auto"
    dev: bool = False
    workers: int = 1
    reflection: bool | Unset = UNSET  # ENABLE_REFLECTION
    health: bool | Unset = UNSET  # ENABLE_HEALTH_CHECK
    # gRPC server construction.
    handlers_hook: Callable[[Any], Any] | str | Unset = UNSET  # ROOT_HANDLERS_HOOK
    server_options: list[tuple[str, Any]] | Unset = UNSET  # SERVER_OPTIONS
    interceptors: list[Any] | Unset = UNSET  # SERVER_INTERCEPTORS
    maximum_concurrent_rpcs: int | Unset | None = UNSET  # MAXIMUM_CONCURRENT_RPCS
    # HTTP side.
    asgi_app: Any = None  # an ASGI app or import string; None: ASGI_APPLICATION or Django's
    healthz_path: str | Unset | None = UNSET  # HEALTHZ_PATH; None: no probe
    readyz_path: str | Unset | None = UNSET  # READYZ_PATH; None: no probe
    serve_static: bool | Unset = UNSET  # DEBUG and staticfiles installed
    http_header_timeout: float | Unset | None = UNSET  # HTTP_HEADER_TIMEOUT
    http_max_header_size: int | Unset | None = UNSET  # HTTP_MAX_HEADER_SIZE
    http_max_body_size: int | Unset | None = UNSET  # HTTP_MAX_BODY_SIZE
    http_rpc: bool | Unset = UNSET  # ENABLE_HTTP_RPC: the gRPC services over Connect and gRPC-Web
    cors_allowed_origins: list[str] | Unset = UNSET  # CORS_ALLOWED_ORIGINS
    metrics: bool | Unset = UNSET  # ENABLE_METRICS: Prometheus metrics at metrics_path
    metrics_path: str | Unset = UNSET  # METRICS_PATH
    # TLS (gRPC, and HTTP unless http_tls is False).
    tls_cert_chain_pairs: list[tuple[str, str]] | Unset = UNSET  # PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH
    tls_root_certificates: str | Unset | None = UNSET  # ROOT_CERTIFICATES_PATH
    tls_require_client_auth: bool | Unset = UNSET  # REQUIRE_CLIENT_AUTH
    http_tls: bool = True
    # Output and supervision.
    bind_retry: float = 0.0  # seconds to keep retrying a busy gRPC port (a reload's predecessor)
    ready_fd: int | None = None  # a supervised child writes one byte here once serving
    banner: bool = True
    access_log: bool | Unset = UNSET  # one line per request, both protocols; UNSET: on with --dev

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)


DEFAULTS = Options()


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by `grpcrunaioserver` and `grpcrunserver`; defaults from `Options`."""
    parser.add_argument(
        "address", nargs="?", default=None,
        help="gRPC address, host:port (default [::]:GRPC_CHANNEL_PORT, port 0 picks a free port)",
    )
    parser.add_argument(
        "--max-workers", type=int, default=DEFAULTS.max_workers,
        help=f"threads for sync code (default {DEFAULTS.max_workers})",
    )
    parser.add_argument(
        "--with-http", nargs="?", const=DEFAULT_HTTP_ADDRESS, default=None, metavar="HTTP_ADDR",
        help=f"also serve the Django ASGI app over HTTP (default address {DEFAULT_HTTP_ADDRESS})",
    )
    parser.add_argument(
        "--probe-address", default=None, metavar="ADDR",
        help="also serve /healthz and /readyz alone, over plain HTTP, on this address (default PROBE_ADDRESS)",
    )
    parser.add_argument(
        "--grace", type=float, default=None, help="seconds in-flight calls get on stop (default GRACE_PERIOD, 10)"
    )
    parser.add_argument(
        "--drain-delay", type=float, default=None,
        help="seconds to keep serving after readiness flips (default DRAIN_DELAY, 0)",
    )
    parser.add_argument(
        "--loop", choices=["auto", "asyncio", "uvloop"], default=DEFAULTS.loop,
        help="event loop (auto: uvloop when installed)",
    )
    parser.add_argument("--dev", action="store_true", help="reload on code changes and run Django's checks")
    parser.add_argument(
        "--workers", type=int, default=DEFAULTS.workers,
        help=f"worker processes sharing the ports (default {DEFAULTS.workers})",
    )
    parser.add_argument("--reflection", action="store_true", default=None, help="enable gRPC server reflection")
    parser.add_argument(
        "--metrics", action=argparse.BooleanOptionalAction, default=None,
        help="serve Prometheus metrics at METRICS_PATH (/metrics) on the HTTP side or the probe listener "
             "(default ENABLE_METRICS, off; needs pip install 'hybrid-server[metrics]')",
    )
    parser.add_argument(
        "--access-log", action=argparse.BooleanOptionalAction, default=None,
        help="log every request, gRPC and HTTP, one line each (default: on with --dev, else off)",
    )


def options_from_arguments(arguments: dict[str, Any], backend: Backend) -> Options:
    """A command's parsed arguments -> Options; an argument left out stays UNSET."""

    def given(name: str) -> Any:
        value = arguments.get(name)
        return UNSET if value is None else value

    return Options(
        grpc_address=given("address"),
        http_address=arguments.get("with_http"),
        probe_address=given("probe_address"),
        backend=backend,
        max_workers=arguments.get("max_workers", DEFAULTS.max_workers),
        grace=given("grace"),
        drain_delay=given("drain_delay"),
        loop=arguments.get("loop", DEFAULTS.loop),
        dev=bool(arguments.get("dev")),
        workers=arguments.get("workers", DEFAULTS.workers),
        reflection=given("reflection"),
        access_log=given("access_log"),
        metrics=given("metrics"),
    )
