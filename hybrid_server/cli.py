"""The serving options shared by `grpcrunaioserver` and `grpcrunserver`: arguments -> Config."""
from __future__ import annotations

import argparse
from typing import Any

from hybrid_server.config import Config

DEFAULT_HTTP_ADDRESS = "127.0.0.1:8000"


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "address", nargs="?", default=None,
        help="gRPC address, host:port (default [::]:GRPC_CHANNEL_PORT, port 0 picks a free port)",
    )
    parser.add_argument("--max-workers", type=int, default=10, help="threads for sync code (default 10)")
    parser.add_argument(
        "--with-http", nargs="?", const=DEFAULT_HTTP_ADDRESS, default=None, metavar="HTTP_ADDR",
        help=f"also serve the Django ASGI app over HTTP (default address {DEFAULT_HTTP_ADDRESS})",
    )
    parser.add_argument("--grace", type=float, default=None, help="seconds in-flight calls get on stop (default GRACE_PERIOD, 10)")
    parser.add_argument("--drain-delay", type=float, default=None, help="seconds to keep serving after readiness flips (default 0)")
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto", help="event loop (auto: uvloop when installed)")
    parser.add_argument("--dev", action="store_true", help="reload on code changes and run Django's checks")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the ports (default 1)")
    parser.add_argument("--reflection", action="store_true", default=None, help="enable gRPC server reflection")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")


def config_from_options(options: dict[str, Any], backend: str) -> Config:
    return Config(
        grpc_address=options.get("address"),
        http_address=options.get("with_http"),
        backend=backend,  # type: ignore[arg-type]
        max_workers=options.get("max_workers", 10),
        grace=options.get("grace"),
        drain_delay=options.get("drain_delay"),
        loop=options.get("loop", "auto"),
        dev=bool(options.get("dev")),
        workers=options.get("workers", 1),
        reflection=options.get("reflection"),
        access_log=bool(options.get("access_log")),
    )
