from django.apps import AppConfig


class DjangoSocioGrpcConfig(AppConfig):
    name = "django_socio_grpc"
    verbose_name = "Django Socio gRPC"
