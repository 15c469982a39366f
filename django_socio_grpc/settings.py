"""`grpc_settings` at its documented path: the engine's reader, with the app's keys added."""
from __future__ import annotations

from hybrid_server.settings import DEFAULTS, GRPCSettings, grpc_settings, register_defaults

APP_DEFAULTS = {
    "GRPC_MIDDLEWARE": [
        "django_socio_grpc.middlewares.log_requests_middleware",
        "django_socio_grpc.middlewares.close_old_connections_middleware",
    ],
    "LOG_OK_RESPONSE": False,
    "IGNORE_LOG_FOR_ACTION": [],
}

# Keys of django-socio-grpc's settings that this server accepts so that existing
# settings files load unchanged, but that do not change how it serves.
ACCEPTED_UNUSED = frozenset(
    {
        "GRPC_ASYNC",
        "DEFAULT_AUTHENTICATION_CLASSES",
        "DEFAULT_PERMISSION_CLASSES",
        "DEFAULT_FILTER_BACKENDS",
        "DEFAULT_PAGINATION_CLASS",
        "SEPARATE_READ_WRITE_MODEL",
        "FILTER_BEHAVIOR",
        "MAP_METADATA_KEYS",
        "ROOT_GRPC_FOLDER",
        "DEFAULT_MESSAGE_NAME_CONSTRUCTOR",
        "DEFAULT_GENERATION_PLUGINS",
        "LOCALE_MIDDLEWARE",
    }
)

register_defaults(APP_DEFAULTS, ACCEPTED_UNUSED)

__all__ = ["DEFAULTS", "GRPCSettings", "grpc_settings"]
