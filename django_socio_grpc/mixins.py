"""Not part of this project: django-socio-grpc's generic model mixins (importing this module says what to use instead)."""
from django_socio_grpc.scope import WRITE_ACTIONS, unavailable

unavailable(__name__, "generic model mixins", WRITE_ACTIONS)
