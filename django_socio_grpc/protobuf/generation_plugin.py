"""Not part of this project: django-socio-grpc's proto generation plugins (importing this module says what to use instead)."""
from django_socio_grpc.scope import NAMES_IN_ACTION, unavailable

unavailable(__name__, "proto generation plugins", NAMES_IN_ACTION)
