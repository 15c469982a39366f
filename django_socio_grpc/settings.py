"""`grpc_settings` at its documented path: the engine's reader, with the app's keys added.

Every key of django-socio-grpc 0.25's settings page is accepted with its documented default and
readable here (`grpc_settings.GRPC_ASYNC`), so a settings file written for it loads unchanged.
The keys in `NO_EFFECT` configure features this project does not have: a system check
(`django_socio_grpc.W001`) warns when one is set to anything but its default.
"""
from __future__ import annotations

from enum import Enum

from hybrid_server.settings import DEFAULTS, GRPCSettings, grpc_settings, register_defaults


class FilterAndPaginationBehaviorOptions(str, Enum):
    """The values of FILTER_BEHAVIOR and PAGINATION_BEHAVIOR (django-socio-grpc's; no effect here)."""

    METADATA_STRICT = "METADATA_STRICT"
    REQUEST_STRUCT_STRICT = "REQUEST_STRUCT_STRICT"
    METADATA_AND_REQUEST_STRUCT = "METADATA_AND_REQUEST_STRUCT"


APP_DEFAULTS = {
    "GRPC_MIDDLEWARE": [
        "django_socio_grpc.middlewares.log_requests_middleware",
        "django_socio_grpc.middlewares.close_old_connections_middleware",
    ],
    "LOG_OK_RESPONSE": False,
    "IGNORE_LOG_FOR_ACTION": [],
    # Worker threads streaming RPCs may hold at once (None: half of --max-workers, at least 1),
    # and how long a `def` stream may wait for its client (seconds, None: no limit): rpc/capacity.py.
    "MAX_STREAM_WORKERS": None,
    "STREAM_IDLE_TIMEOUT": 60.0,
}

_SERIALIZERS = "django-socio-grpc's DRF serializer layer is not part of this project"
_FILTERS = f"filters and pagination belong to {_SERIALIZERS}; read filter or page fields from the request message"
_AUTH = (
    f"authentication and permission classes belong to {_SERIALIZERS}; authenticate in a GRPC_MIDDLEWARE "
    "or in the service's before_action()"
)

# django-socio-grpc keys that change nothing here: (default, why it has no effect).
NO_EFFECT: dict[str, tuple[object, str]] = {
    "GRPC_ASYNC": (
        False,
        "the command chooses the server: grpcrunaioserver serves with grpc.aio, grpcrunserver with the thread pool",
    ),
    "DEFAULT_AUTHENTICATION_CLASSES": ([], _AUTH),
    "DEFAULT_PERMISSION_CLASSES": ([], _AUTH),
    "DEFAULT_FILTER_BACKENDS": ([], _FILTERS),
    "DEFAULT_PAGINATION_CLASS": (None, _FILTERS),
    "FILTER_BEHAVIOR": (FilterAndPaginationBehaviorOptions.METADATA_STRICT, _FILTERS),
    "PAGINATION_BEHAVIOR": (FilterAndPaginationBehaviorOptions.METADATA_STRICT, _FILTERS),
    "SEPARATE_READ_WRITE_MODEL": (True, f"it configures proto serializers; {_SERIALIZERS}"),
    "MAP_METADATA_KEYS": (
        {"headers": "headers", "pagination": "pagination", "filters": "filters"},
        "no filter, pagination or header data is read from metadata under these keys",
    ),
    "ROOT_GRPC_FOLDER": ("grpc_folder", "protos of shared libraries (external services) are not generated here"),
    "DEFAULT_MESSAGE_NAME_CONSTRUCTOR": (
        "django_socio_grpc.protobuf.message_name_constructor.DefaultMessageNameConstructor",
        "message names are {Service}{Action}Request/Response, or grpc_action(request_name=..., response_name=...)",
    ),
    "DEFAULT_GENERATION_PLUGINS": ([], "generateproto has no generation plugins"),
    "LOG_EXTRA_CONTEXT_FUNCTION": (
        "django_socio_grpc.log.default_get_log_extra_context",
        "deprecated by django-socio-grpc; records on django_socio_grpc.request carry `request` and "
        "`status_code`, add more with a logging filter",
    ),
}

# Accepted (not a django-socio-grpc key, but accepted by earlier versions of this project) and unused.
ACCEPTED_UNUSED = frozenset({"LOCALE_MIDDLEWARE"})

register_defaults({**APP_DEFAULTS, **{key: default for key, (default, _) in NO_EFFECT.items()}}, ACCEPTED_UNUSED)

__all__ = ["DEFAULTS", "FilterAndPaginationBehaviorOptions", "GRPCSettings", "grpc_settings"]
