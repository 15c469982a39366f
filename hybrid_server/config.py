"""`Config`: one run, resolved once in the serving process and frozen.

`resolve(options)` is the only place that reads `settings.GRPC_FRAMEWORK` for serving and the
only place that checks values; everything downstream reads plain attributes.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from hybrid_server.options import UNSET, Backend, LoopName, Options
from hybrid_server.records import record


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


@record
class Tls:
    cert_chain_pairs: tuple[tuple[str, str], ...]
    root_certificates: str | None
    require_client_auth: bool


@record
class HttpLimits:
    header_timeout: float | None  # seconds from a request's first byte to the end of its headers
    max_header_size: int | None  # bytes of request line and headers
    max_body_size: int | None  # bytes of request body


@record
class Config:
    """Everything one serving process needs, every default applied and every value checked."""

    options: Options  # what was asked for: a supervisor hands these on to its children
    backend: Backend
    grpc_host: str
    grpc_port: int
    http_host: str | None  # None: gRPC only
    http_port: int
    probe_host: str | None  # the probe listener (plain HTTP, probes only); None: none
    probe_port: int
    max_workers: int
    grace: float
    drain_delay: float
    loop: LoopName
    use_uvloop: bool
    dev: bool
    workers: int
    health: bool
    reflection: bool
    handlers_hook: Callable[[Any], Any] | str
    server_options: tuple[tuple[str, Any], ...]
    interceptors: tuple[Any, ...]
    maximum_concurrent_rpcs: int | None
    asgi_app: Any
    healthz_path: str | None
    readyz_path: str | None
    serve_static: bool
    http_limits: HttpLimits
    http_rpc: bool  # the gRPC services on the HTTP port too (Connect, gRPC-Web)
    cors_allowed_origins: tuple[str, ...]
    metrics: bool  # Prometheus metrics at metrics_path (HTTP side and probe listener)
    metrics_path: str
    tls: Tls | None
    http_tls: bool
    bind_retry: float
    ready_fd: int | None
    banner: bool
    access_log: bool

    @property
    def with_http(self) -> bool:
        return self.http_host is not None

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    @property
    def http_over_tls(self) -> bool:
        return self.tls is not None and self.http_tls


def _setting(value: Any, key: str) -> Any:
    from hybrid_server.settings import grpc_settings

    return getattr(grpc_settings, key) if value is UNSET else value


def _server_options(value: Any) -> tuple[tuple[str, Any], ...]:
    from hybrid_server.settings import grpc_settings

    where = "GRPC_FRAMEWORK['SERVER_OPTIONS']" if value is UNSET else "server_options"
    entries = grpc_settings.SERVER_OPTIONS if value is UNSET else value
    if isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__"):
        raise ConfigError(f"{where} must be a list of (name, value) pairs, got {entries!r}")
    result = []
    for index, entry in enumerate(entries):
        if isinstance(entry, (str, bytes)) or not hasattr(entry, "__iter__") or len(entry) != 2 or not isinstance(entry[0], str):
            raise ConfigError(
                f"{where}[{index}] must be a (name, value) pair such as "
                f"('grpc.max_receive_message_length', 4194304), got {entry!r}"
            )
        name, option = entry
        if not isinstance(option, (int, str, bytes)):
            raise ConfigError(f"{where}[{index}] {name!r}: the value must be an int or a string, got {option!r}")
        result.append((name, option))
    return tuple(result)


def _tls(options: Options) -> Tls | None:
    pairs = _setting(options.tls_cert_chain_pairs, "PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH")
    if not pairs:
        return None
    checked = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or len(pair) != 2:
            raise ConfigError(
                f"PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH: expected (key path, certificate path) pairs, got {pair!r}"
            )
        checked.append((str(pair[0]), str(pair[1])))
    return Tls(
        cert_chain_pairs=tuple(checked),
        root_certificates=_setting(options.tls_root_certificates, "ROOT_CERTIFICATES_PATH"),
        require_client_auth=bool(_setting(options.tls_require_client_auth, "REQUIRE_CLIENT_AUTH")),
    )


def _http_limits(options: Options) -> HttpLimits:
    values = []
    for field, key in (
        ("http_header_timeout", "HTTP_HEADER_TIMEOUT"),
        ("http_max_header_size", "HTTP_MAX_HEADER_SIZE"),
        ("http_max_body_size", "HTTP_MAX_BODY_SIZE"),
    ):
        value = _setting(getattr(options, field), key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ConfigError(f"{key} must be a positive number or None, got {value!r}")
        values.append(value)
    timeout, header, body = values
    return HttpLimits(
        None if timeout is None else float(timeout),
        None if header is None else int(header),
        None if body is None else int(body),
    )


def _origins(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(origin, str) for origin in value):
        raise ConfigError(f"CORS_ALLOWED_ORIGINS must be a list of origins such as ['https://app.example.com'], got {value!r}")
    for origin in value:
        if origin != "*" and "://" not in origin:
            raise ConfigError(f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin (scheme://host[:port]) nor '*'")
    return tuple(value)


def _metrics(options: Options, listener: bool, probe_paths: tuple[str | None, ...]) -> tuple[bool, str]:
    """ENABLE_METRICS / METRICS_PATH, checked: prometheus-client installed, a listener to serve them."""
    enabled = bool(_setting(options.metrics, "ENABLE_METRICS"))
    path = _setting(options.metrics_path, "METRICS_PATH")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"METRICS_PATH must be a path starting with '/', got {path!r}")
    if not enabled:
        return False, path
    if path in probe_paths:
        raise ConfigError(f"METRICS_PATH {path!r} is also a probe path (HEALTHZ_PATH / READYZ_PATH)")
    from hybrid_server import metrics as prometheus

    if not prometheus.available():
        raise ConfigError(prometheus.MISSING)
    if not listener:
        raise ConfigError(
            f"--metrics (ENABLE_METRICS): no HTTP listener to serve {path} on; add --with-http ADDR, or "
            "--probe-address ADDR (PROBE_ADDRESS) for a plain-HTTP listener of probes and metrics"
        )
    return True, path


def _use_uvloop(loop: str) -> bool:
    if loop == "asyncio":
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if loop == "uvloop":
            raise ConfigError("--loop uvloop: uvloop is not installed (pip install uvloop)") from None
        return False
    return True


def _serve_static(value: Any) -> bool:
    if value is not UNSET:
        return bool(value)
    from django.apps import apps
    from django.conf import settings

    return bool(settings.DEBUG) and apps.is_installed("django.contrib.staticfiles")


def resolve(options: Options) -> Config:
    """Fill what `options` left UNSET from Django settings and check every value, once.

    Django must be set up.
    """
    from hybrid_server.settings import grpc_settings

    if options.backend not in ("aio", "threads"):
        raise ConfigError(f"backend must be 'aio' or 'threads', got {options.backend!r}")
    if options.loop not in ("auto", "asyncio", "uvloop"):
        raise ConfigError(f"loop must be auto, asyncio or uvloop, got {options.loop!r}")
    for name in ("max_workers", "workers"):
        value = getattr(options, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    default_port = int(grpc_settings.GRPC_CHANNEL_PORT)
    grpc_address = f"[::]:{default_port}" if options.grpc_address is UNSET else options.grpc_address
    grpc_host, grpc_port = parse_address(grpc_address, default_port, "gRPC")
    http_host, http_port = (None, 0)
    if options.http_address is not None:
        http_host, http_port = parse_address(options.http_address, 8000, "HTTP")
    probe_host, probe_port = (None, 0)
    probe_address = _setting(options.probe_address, "PROBE_ADDRESS")
    if probe_address is not None:
        probe_host, probe_port = parse_address(str(probe_address), 8080, "HTTP")
    grace = float(_setting(options.grace, "GRACE_PERIOD"))
    drain_delay = float(_setting(options.drain_delay, "DRAIN_DELAY"))
    for name, number in (("grace", grace), ("drain_delay", drain_delay)):
        if number < 0:
            raise ConfigError(f"{name} must be >= 0, got {number:g}")
    maximum = _setting(options.maximum_concurrent_rpcs, "MAXIMUM_CONCURRENT_RPCS")
    if maximum is not None and (not isinstance(maximum, int) or maximum < 1):
        raise ConfigError(f"MAXIMUM_CONCURRENT_RPCS must be None or an integer >= 1, got {maximum!r}")
    hook = grpc_settings.raw("ROOT_HANDLERS_HOOK") if options.handlers_hook is UNSET else options.handlers_hook
    healthz_path = _setting(options.healthz_path, "HEALTHZ_PATH")
    readyz_path = _setting(options.readyz_path, "READYZ_PATH")
    metrics, metrics_path = _metrics(options, http_host is not None or probe_host is not None, (healthz_path, readyz_path))
    return Config(
        options=options,
        backend=options.backend,
        grpc_host=grpc_host,
        grpc_port=grpc_port,
        http_host=http_host,
        http_port=http_port,
        probe_host=probe_host,
        probe_port=probe_port,
        max_workers=options.max_workers,
        grace=grace,
        drain_delay=drain_delay,
        loop=options.loop,
        use_uvloop=_use_uvloop(options.loop),
        dev=options.dev,
        workers=options.workers,
        health=bool(_setting(options.health, "ENABLE_HEALTH_CHECK")),
        # --dev turns reflection on unless asked otherwise: grpcurl and Postman work without flags.
        reflection=bool(options.dev if options.reflection is UNSET and options.dev else
                        _setting(options.reflection, "ENABLE_REFLECTION")),
        # Imported by the gRPC side when serving: a supervisor never imports user code.
        handlers_hook=hook,
        server_options=_server_options(options.server_options),
        interceptors=tuple(_setting(options.interceptors, "SERVER_INTERCEPTORS")),
        maximum_concurrent_rpcs=maximum,
        asgi_app=options.asgi_app,
        healthz_path=healthz_path,
        readyz_path=readyz_path,
        serve_static=_serve_static(options.serve_static),
        http_limits=_http_limits(options),
        http_rpc=bool(_setting(options.http_rpc, "ENABLE_HTTP_RPC")),
        cors_allowed_origins=_origins(_setting(options.cors_allowed_origins, "CORS_ALLOWED_ORIGINS")),
        metrics=metrics,
        metrics_path=metrics_path,
        tls=_tls(options),
        http_tls=options.http_tls,
        bind_retry=options.bind_retry,
        ready_fd=options.ready_fd,
        banner=options.banner,
        access_log=options.dev if options.access_log is UNSET else bool(options.access_log),
    )
