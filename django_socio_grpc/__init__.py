"""A Django app, compatible with django-socio-grpc's documented server and registration API."""

from django_socio_grpc import settings as _settings  # noqa: F401 - declares the app's GRPC_FRAMEWORK keys
