"""Not part of this project: django-socio-grpc's proto serializers (importing this module says what to use instead)."""
from django_socio_grpc.scope import DECLARE_FIELDS, unavailable

unavailable(__name__, "proto serializers", DECLARE_FIELDS)
