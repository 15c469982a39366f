from django.apps import AppConfig


class DjangoSocioGrpcConfig(AppConfig):
    name = "django_socio_grpc"
    verbose_name = "Django Socio gRPC"

    def ready(self) -> None:
        from django_socio_grpc import checks  # noqa: F401 - registers the app's system checks
