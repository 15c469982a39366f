import os

from django_socio_grpc.utils.servicer_register import AppHandlerRegistry


def grpc_handlers(server):
    registry = AppHandlerRegistry("testapp", server)
    registry.register("ProbeService")  # by name: testapp/services/probe_service.py
    from testapp.services.item_service import ItemService

    registry.register(ItemService)  # by class
    registry.register("BenchService")  # the benchmarks' lean service


def bench_handlers(server):
    """Only the benchmarks' lean service: what benchmarks/peer serves with django-socio-grpc."""
    AppHandlerRegistry("testapp", server).register("BenchService")


async def async_grpc_handlers(server):
    grpc_handlers(server)


def broken_handlers(server):
    AppHandlerRegistry("testapp", server).register("NoSuchService")


def flaky_handlers(server):
    """Fails while the file named by TESTPROJECT_FAIL_MARKER exists (a restart that dies)."""
    marker = os.environ.get("TESTPROJECT_FAIL_MARKER", "")
    if marker and os.path.exists(marker):
        raise RuntimeError("the fail marker is present")
    grpc_handlers(server)
