"""Not part of this project: django-socio-grpc's grpc_action placeholders (importing this package says what to use instead)."""
from django_socio_grpc.scope import DECLARE_FIELDS, unavailable

unavailable(__name__, "grpc_action placeholders and actions", DECLARE_FIELDS)
