"""MAXIMUM_CONCURRENT_RPCS sheds the project's calls, never health checks or reflection."""
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hybrid_server.testing import LiveServer


@pytest.mark.parametrize("backend", ["aio", "threads"])
def test_health_and_reflection_answer_when_the_limit_is_reached(backend, pb, tmp_path):
    pb2, pb2_grpc = pb
    release = tmp_path / "release"
    options = {"maximum_concurrent_rpcs": 2, "reflection": True, "handlers_hook": "testproject.handlers.grpc_handlers"}
    with LiveServer(backend=backend, **options) as server:
        channel = server.channel()
        stub = pb2_grpc.ProbeServiceControllerStub(channel)
        holds = [stub.HoldAsync(pb2.ProbeMessage(message=str(release)), timeout=30) for _ in range(2)]
        assert [next(hold).message for hold in holds] == ["started", "started"]
        with pytest.raises(grpc.RpcError) as refused:
            stub.Echo(pb2.ProbeMessage(message="one too many"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
        names = {service.name for service in next(reflection).list_services_response.service}
        assert "grpc.health.v1.Health" in names
        release.write_text("")
        assert [[reply.message for reply in hold] for hold in holds] == [["released"], ["released"]]
        assert stub.Echo(pb2.ProbeMessage(message="room again"), timeout=10).message == "room again"
