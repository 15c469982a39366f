"""Not part of this project: django-socio-grpc's message name constructors (importing this module says what to use instead)."""
from django_socio_grpc.scope import NAMES_IN_ACTION, unavailable

unavailable(__name__, "message name constructors", NAMES_IN_ACTION)
