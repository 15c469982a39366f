"""A Django app, compatible with django-socio-grpc's documented server and registration API."""

default_app_config = "django_socio_grpc.apps.DjangoSocioGrpcConfig"
