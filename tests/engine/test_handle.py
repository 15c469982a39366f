"""`ServerHandle`: whatever the hook adds is recorded, guarded and served like the app's services.

(The app's own services, every shape, are guarded in tests/rpc/test_decode_guard.py.)

The hook here adds the app's ProbeService through `AppHandlerRegistry`, a hand-written
servicer through the generated `add_ItemControllerServicer_to_server(servicer, server)`
called directly, and a hand-written `grpc.GenericRpcHandler`.
"""
from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from django_socio_grpc.utils.servicer_register import AppHandlerRegistry
from hybrid_server.testing import LiveServer
from tests.engine.support import BACKENDS, DEADLINE, ITEM, PROBE

SERVING = health_pb2.HealthCheckResponse.SERVING

GARBAGE = b"\xff\xff\xff\xff"  # not a protobuf message of any type
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
CUSTOM = "/custom.Echo/Say"


class DirectItemServicer:
    """Not built from a Service: a plain servicer object, as users write for generated code."""

    def Retrieve(self, request, context):
        from testapp.grpc import testapp_pb2

        return testapp_pb2.ItemRetrieveResponse(id=request.id, name="direct")


class CustomHandler(grpc.GenericRpcHandler):
    """A hand-written generic handler: the handle cannot list it, but still guards it."""

    def service(self, handler_call_details):
        from testapp.grpc import testapp_pb2

        if handler_call_details.method != CUSTOM:
            return None
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: testapp_pb2.ProbeMessage(message=request.message.upper()),
            request_deserializer=testapp_pb2.ProbeMessage.FromString,
            response_serializer=testapp_pb2.ProbeMessage.SerializeToString,
        )


def direct_hook(server):
    from testapp.grpc import testapp_pb2_grpc

    AppHandlerRegistry("testapp", server).register("ProbeService")
    testapp_pb2_grpc.add_ItemControllerServicer_to_server(DirectItemServicer(), server)
    server.add_generic_rpc_handlers((CustomHandler(),))


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, pb):
    with LiveServer(backend=request.param, handlers_hook=direct_hook, reflection=True) as server:
        yield server


@pytest.fixture
def channel(served):
    return served.channel()


def _call_raw(channel, path: str, payload: bytes = GARBAGE, streaming: bool = False) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        if streaming:
            list(channel.stream_stream(path)(iter([payload]), timeout=DEADLINE))
        else:
            channel.unary_unary(path)(payload, timeout=DEADLINE)
    return info.value


def _assert_invalid_argument(error: grpc.RpcError, message: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.details() == f"request is not a valid {message}"  # nothing of the parser's own text


# --------------------------------------------------------------------------- recorded


def test_directly_added_service_is_recorded(served):
    grpc_side = served.server.grpc
    assert grpc_side.services == [PROBE, ITEM]  # health and reflection are the engine's, not listed
    assert f"/{ITEM}/Retrieve" in grpc_side.methods
    record = grpc_side.methods[f"/{ITEM}/Retrieve"]
    assert (record.service, record.method, record.path) == (ITEM, "Retrieve", f"/{ITEM}/Retrieve")
    assert record.rebind is None  # a foreign servicer: guarded, not bound
    assert grpc_side.methods[f"/{PROBE}/Echo"].rebind is not None  # the app's: bound to the runtime
    assert {HEALTH, REFLECTION} <= set(grpc_side.handle.services)


def test_directly_added_service_answers(served, channel, pb):
    pb2, pb_grpc = pb
    reply = pb_grpc.ItemControllerStub(channel).Retrieve(pb2.ItemRetrieveRequest(id=5), timeout=DEADLINE)
    assert (reply.id, reply.name) == (5, "direct")


def test_health_knows_directly_added_service(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", PROBE, ITEM):
        assert stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=DEADLINE).status == SERVING


def test_reflection_lists_and_describes_directly_added_service(channel):
    from google.protobuf import descriptor_pool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    database = ProtoReflectionDescriptorDatabase(channel)
    assert {PROBE, ITEM, HEALTH, REFLECTION} <= set(database.get_services())
    service = descriptor_pool.DescriptorPool(database).FindServiceByName(ITEM)
    assert service.methods_by_name["Retrieve"].input_type.full_name == "testproject.testapp.ItemRetrieveRequest"


def test_banner_lists_directly_added_service(pb, capsys):
    with LiveServer(handlers_hook=direct_hook, banner=True) as server:
        pass
    out = capsys.readouterr().out
    assert f"gRPC server listening on 127.0.0.1:{server.grpc_port}" in out
    assert f"services: {PROBE}, {ITEM}\n" in out


# --------------------------------------------------------------------------- guarded


def test_undecodable_request_to_directly_added_service(channel):
    _assert_invalid_argument(_call_raw(channel, f"/{ITEM}/Retrieve"), "testproject.testapp.ItemRetrieveRequest")


def test_undecodable_request_to_a_hand_written_generic_handler(channel, pb):
    pb2, _ = pb
    call = channel.unary_unary(CUSTOM, request_serializer=pb2.ProbeMessage.SerializeToString,
                               response_deserializer=pb2.ProbeMessage.FromString)
    assert call(pb2.ProbeMessage(message="hi"), timeout=DEADLINE).message == "HI"
    _assert_invalid_argument(_call_raw(channel, CUSTOM), "testproject.testapp.ProbeMessage")


def test_undecodable_request_to_health(channel):
    _assert_invalid_argument(_call_raw(channel, f"/{HEALTH}/Check"), "grpc.health.v1.HealthCheckRequest")
    with pytest.raises(grpc.RpcError) as info:
        list(channel.unary_stream(f"/{HEALTH}/Watch")(GARBAGE, timeout=DEADLINE))
    _assert_invalid_argument(info.value, "grpc.health.v1.HealthCheckRequest")


def test_undecodable_request_to_reflection(channel):
    error = _call_raw(channel, f"/{REFLECTION}/ServerReflectionInfo", streaming=True)
    _assert_invalid_argument(error, "grpc.reflection.v1alpha.ServerReflectionRequest")


def test_guarded_services_still_serve(channel):
    """After undecodable requests, every service answers good ones (no harm done)."""
    _call_raw(channel, f"/{HEALTH}/Check")
    stub = health_pb2_grpc.HealthStub(channel)
    assert stub.Check(health_pb2.HealthCheckRequest(service=ITEM), timeout=DEADLINE).status == SERVING


# --------------------------------------------------------------------------- one table on grpc.aio


class _Recording:
    """A real grpc.aio server, with what the handle gives it recorded."""

    def __init__(self, server):
        self.server = server
        self.given = []

    def add_generic_rpc_handlers(self, handlers):
        self.given.extend(handlers)
        self.server.add_generic_rpc_handlers(handlers)

    def __getattr__(self, name):
        return getattr(self.server, name)


class _Details:
    def __init__(self, method):
        self.method = method


def test_on_grpc_aio_every_generated_service_goes_into_one_generic_handler(pb):
    """grpc.aio asks its generic handlers one by one: however many services, an RPC costs one lookup.
    A hand-written generic handler stays one of its own, after the table it was added after."""
    from hybrid_server.grpc.handle import ServerHandle
    from hybrid_server.grpc.runtime import Runtime

    async def given() -> list:
        recording = _Recording(grpc.aio.server())  # made on a running loop, as the engine makes it
        direct_hook(ServerHandle(recording, Runtime("aio")))
        return recording.given

    table, custom = asyncio.run(given())  # ProbeService (registry), ItemController (generated code), CustomHandler
    assert table.service(_Details(f"/{PROBE}/Echo")) is not None
    assert table.service(_Details(f"/{ITEM}/Retrieve")) is not None
    assert table.service(_Details(CUSTOM)) is None
    assert custom.service(_Details(CUSTOM)) is not None
