"""The documented import path of `AppHandlerRegistry`."""
from django_socio_grpc.services.app_handler_registry import AppHandlerRegistry

__all__ = ["AppHandlerRegistry"]
