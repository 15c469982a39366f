"""Not part of this project: django-socio-grpc's permission classes (importing this module says what to use instead)."""
from django_socio_grpc.scope import CHECK_IN_HOOK, unavailable

unavailable(__name__, "permission classes", CHECK_IN_HOOK)
