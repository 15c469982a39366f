"""Not part of this project: django-socio-grpc's filters (importing this module says what to use instead)."""
from django_socio_grpc.scope import FILTER_IN_ACTION, unavailable

unavailable(__name__, "filters", FILTER_IN_ACTION)
