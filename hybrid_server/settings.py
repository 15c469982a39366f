"""`grpc_settings`: `settings.GRPC_FRAMEWORK` read over documented defaults.

The engine's keys are declared here; the Django app adds its own (`register_defaults`) when it
is imported, so one reader serves both and an unknown key is still reported by name. Values
are resolved lazily and cached until Django's `setting_changed` fires, so
`override_settings(GRPC_FRAMEWORK=...)` is followed and the hot path reads a plain attribute.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    "ROOT_HANDLERS_HOOK": None,  # None: f"{ROOT_URLCONF}.grpc_handlers"
    "SERVER_INTERCEPTORS": [],
    "SERVER_OPTIONS": [],
    "GRPC_CHANNEL_PORT": 50051,
    "ENABLE_HEALTH_CHECK": True,
    "ENABLE_REFLECTION": False,
    "PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH": [],
    "ROOT_CERTIFICATES_PATH": None,
    "REQUIRE_CLIENT_AUTH": False,
    "GRACE_PERIOD": 10.0,
    "DRAIN_DELAY": 0.0,
    "MAXIMUM_CONCURRENT_RPCS": None,
    "HEALTHZ_PATH": "/healthz",
    "READYZ_PATH": "/readyz",
    "PROBE_ADDRESS": None,  # host:port of a plain-HTTP listener serving only the probes
    # HTTP side limits (None: no limit).
    "HTTP_HEADER_TIMEOUT": 10.0,  # seconds for a request's line and headers to arrive
    "HTTP_MAX_HEADER_SIZE": 64 * 1024,  # bytes of request line and headers (431 beyond)
    "HTTP_MAX_BODY_SIZE": 16 * 1024 * 1024,  # bytes of request body (413 beyond, before reading it)
    # The gRPC services on the HTTP port (Connect and gRPC-Web, docs/web.md).
    "ENABLE_HTTP_RPC": True,
    "CORS_ALLOWED_ORIGINS": [],  # origins allowed to call the RPC routes from a browser ("*": any)
    # Prometheus metrics (docs/observability.md; needs the `metrics` extra, prometheus-client).
    "ENABLE_METRICS": False,
    "METRICS_PATH": "/metrics",  # served on the HTTP side and on the probe listener
}

# Keys accepted so that existing settings files load unchanged, but that change nothing here.
ACCEPTED_UNUSED: set[str] = set()

# Keys whose value may be an import string (or a list of them).
IMPORT_STRINGS = frozenset({"ROOT_HANDLERS_HOOK", "SERVER_INTERCEPTORS"})


def register_defaults(defaults: dict[str, Any], accepted_unused: Iterable[str] = ()) -> None:
    """Declare more keys (the Django app's): known from now on, with these defaults."""
    DEFAULTS.update(defaults)
    ACCEPTED_UNUSED.update(accepted_unused)
    grpc_settings.reload()


def _import(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ImproperlyConfigured(f"GRPC_FRAMEWORK[{key!r}]: cannot import {value!r}: {exc}") from exc


class GRPCSettings:
    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}
        self._user: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user is None:
            user = getattr(settings, "GRPC_FRAMEWORK", None) or {}
            if not isinstance(user, dict):
                raise ImproperlyConfigured("settings.GRPC_FRAMEWORK must be a dict")
            unknown = sorted(set(user) - set(DEFAULTS) - ACCEPTED_UNUSED)
            if unknown:
                raise ImproperlyConfigured(
                    f"GRPC_FRAMEWORK has unknown key(s) {', '.join(map(repr, unknown))}; "
                    f"known keys: {', '.join(sorted(DEFAULTS))}"
                )
            self._user = user
        return self._user

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key not in DEFAULTS:
            raise AttributeError(f"Invalid gRPC setting: {key!r}")
        try:
            return self._cache[key]
        except KeyError:
            pass
        value = self.raw(key)
        if key in IMPORT_STRINGS:
            if isinstance(value, (list, tuple)):
                value = [_import(key, item) for item in value]
                if key == "SERVER_INTERCEPTORS":
                    value = [item() if isinstance(item, type) else item for item in value]
            else:
                value = _import(key, value)
        self._cache[key] = value
        return value

    def raw(self, key: str) -> Any:
        """The value as written (import strings not imported), default applied."""
        value = self.user_settings.get(key, DEFAULTS[key])
        if key == "ROOT_HANDLERS_HOOK" and value is None:
            value = f"{settings.ROOT_URLCONF}.grpc_handlers"
        elif value is None and isinstance(DEFAULTS[key], list):
            value = []  # django-socio-grpc documents None for SERVER_OPTIONS and SERVER_INTERCEPTORS
        elif isinstance(value, dict) and isinstance(DEFAULTS[key], dict):
            value = {**DEFAULTS[key], **value}  # a dict setting may be partly given (MAP_METADATA_KEYS)
        return value

    def is_set(self, key: str) -> bool:
        return key in self.user_settings

    def reload(self) -> None:
        self._cache.clear()
        self._user = None


grpc_settings = GRPCSettings()


def _reload(*, setting: str, **_: Any) -> None:
    if setting in ("GRPC_FRAMEWORK", "ROOT_URLCONF"):
        grpc_settings.reload()


setting_changed.connect(_reload)
