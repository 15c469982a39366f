from django_socio_grpc.services.app_handler_registry import AppHandlerRegistry


def grpc_handlers(server):
    from testapp.services.bench_service import BenchService

    AppHandlerRegistry("testapp", server).register(BenchService)
