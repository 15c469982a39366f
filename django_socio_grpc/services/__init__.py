from django_socio_grpc.services.app_handler_registry import AppHandlerRegistry
from django_socio_grpc.services.base_service import Service

__all__ = ["AppHandlerRegistry", "Service"]
