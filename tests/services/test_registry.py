"""AppHandlerRegistry: both registration styles and every error, on real (unstarted) servers.

Services are wired through the engine's `ServerHandle`, which records what was added (the
registry keeps no serving state of its own). Registering one service twice on one server is
tested in tests/rpc/test_servicer.py.
"""
import asyncio
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.exceptions import RegistrationError
from django_socio_grpc.generics import GenericService
from django_socio_grpc.services import AppHandlerRegistry as FromServices
from django_socio_grpc.services import Service
from django_socio_grpc.services.app_handler_registry import camel_to_snake, clear_recorded_apps, recorded_apps
from django_socio_grpc.utils.servicer_register import AppHandlerRegistry
from hybrid_server.grpc.handle import ServerHandle
from hybrid_server.grpc.runtime import Runtime

PROBE = "testproject.testapp.ProbeServiceController"
ITEM = "testproject.testapp.ItemController"


@pytest.fixture(scope="module", autouse=True)
def _protos(pb):
    return pb


@pytest.fixture
def server():
    """A thread-pool grpc server behind the handle a hook receives; never started."""
    loop = asyncio.new_event_loop()
    grpc_server = grpc.server(ThreadPoolExecutor(1))
    yield ServerHandle(grpc_server, Runtime("threads", bridge_loop=loop))
    grpc_server.stop(None)
    loop.close()


def test_one_class_two_import_paths():
    assert AppHandlerRegistry is FromServices


@pytest.mark.parametrize(
    "name, expected",
    [("MyHTTPService", "my_http_service"), ("ProbeService", "probe_service"), ("Book", "book"), ("ABTest", "ab_test"),
     ("V2Api", "v2_api")],
)
def test_camel_to_snake(name, expected):
    assert camel_to_snake(name) == expected


def test_names():
    class PlainService(Service):
        pass

    class GreeterService(GenericService):
        pass

    class Named(GenericService):
        service_name = "Custom"

    assert PlainService.get_controller_name() == "PlainServiceController"
    assert GreeterService.get_service_name() == "Greeter"
    assert GreeterService.get_controller_name() == "GreeterController"
    assert Named.get_controller_name() == "CustomController"


def test_register_by_class_and_by_name(server):
    from testapp.services.item_service import ItemService

    registry = AppHandlerRegistry("testapp", server)
    assert registry.register("ProbeService").__name__ == "ProbeService"
    assert registry.register(ItemService) is ItemService
    assert server.services == [PROBE, ITEM]
    assert f"/{PROBE}/HoldSync" in server.methods and f"/{ITEM}/Retrieve" in server.methods


def test_register_by_name_retries_with_service_suffix(server):
    assert AppHandlerRegistry("testapp", server).register("Probe").__name__ == "ProbeService"
    assert server.services == [PROBE]


def test_explicit_service_file_path_is_honoured(server):
    registry = AppHandlerRegistry("testapp", server, service_file_path="services/item_service.py")
    assert registry.register("ItemService").get_controller_name() == "ItemController"
    dotted = AppHandlerRegistry("testapp", server, service_file_path="testapp.services.probe_service")
    assert dotted.register("ProbeService").__name__ == "ProbeService"
    assert server.services == [ITEM, PROBE]


def test_missing_pb2_grpc_says_to_run_generateproto(server):
    class LonelyService(Service):
        @grpc_action(request=[], response=[])
        async def Ping(self, request, context):
            return None

    with pytest.raises(RegistrationError) as info:
        AppHandlerRegistry("django_socio_grpc", server).register(LonelyService)
    assert "django_socio_grpc.grpc.django_socio_grpc_pb2_grpc" in str(info.value)
    assert "generateproto" in str(info.value)
    assert server.services == []


def test_import_error_in_user_code_is_shown_as_itself(server):
    with pytest.raises(ModuleNotFoundError) as info:
        AppHandlerRegistry("testapp", server).register("BrokenImportService")
    assert info.value.name == "no_such_dependency_xyz"


def test_unknown_name(server):
    with pytest.raises(RegistrationError, match=r"no module 'testapp\.services\.nothing_here'"):
        AppHandlerRegistry("testapp", server).register("NothingHere")


def test_module_without_the_class(server):
    registry = AppHandlerRegistry("testapp", server, service_file_path="testapp.services.probe_service")
    with pytest.raises(RegistrationError, match=r"module 'testapp\.services\.probe_service' defines no class 'Missing'"):
        registry.register("Missing")


def test_not_a_service(server):
    with pytest.raises(RegistrationError, match="not a subclass"):
        AppHandlerRegistry("testapp", server).register(object)


def test_unknown_app(server):
    with pytest.raises(RegistrationError, match="INSTALLED_APPS"):
        AppHandlerRegistry("no_such_app", server)


def test_controller_missing_from_generated_code(server):
    class StrangerService(Service):
        pass

    with pytest.raises(RegistrationError, match="add_StrangerServiceControllerServicer_to_server"):
        AppHandlerRegistry("testapp", server).register(StrangerService)


def test_generation_mode_records_without_wiring():
    clear_recorded_apps()
    try:
        registry = AppHandlerRegistry("testapp", None)
        registry.register("ProbeService")
        (recorded,) = recorded_apps()
        assert recorded.app_name == "testapp"
        assert recorded.module_prefix == "testapp.grpc.testapp"
        assert [s.__name__ for s in recorded.services] == ["ProbeService"]
        with pytest.raises(RegistrationError, match="registered twice"):
            registry.register("ProbeService")
    finally:
        clear_recorded_apps()


def test_as_servicer_validates_kwargs():
    from testapp.services.probe_service import ProbeService

    servicer = ProbeService.as_servicer(before_calls=5)
    assert callable(servicer.Echo) and callable(servicer.StreamSync)
    with pytest.raises(TypeError, match="invalid keyword 'nope'"):
        ProbeService.as_servicer(nope=1)
    with pytest.raises(TypeError, match="action name"):
        ProbeService.as_servicer(Echo=1)
