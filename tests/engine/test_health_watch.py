"""Health `Watch` streams see NOT_SERVING when the drain starts and end (OK) when the server
stops, so an idle watcher never holds a stop for the whole grace period."""
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hybrid_server.testing import LiveServer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _no_services(server):
    """A hook that registers nothing: only health is served."""


@pytest.mark.parametrize("backend", ["aio", "threads"])
def test_idle_watchers_see_not_serving_then_end_at_stop(backend):
    # A grace far longer than the stop is allowed to take: a watcher left open would hold it.
    server = LiveServer(backend=backend, handlers_hook=_no_services, grace=120).start()
    channel = grpc.insecure_channel(server.grpc_target)
    watches = [health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(3)]
    assert [next(watch).status for watch in watches] == [SERVING] * 3
    seen: list[list] = [[] for _ in watches]

    def read(watch, into):
        into.extend(message.status for message in watch)
        into.append(watch.code())

    readers = [threading.Thread(target=read, args=pair) for pair in zip(watches, seen, strict=True)]
    for reader in readers:
        reader.start()
    assert server.stop(timeout=20) == 0  # raises LiveServerError if the watchers held it
    for reader in readers:
        reader.join(10)
        assert not reader.is_alive()
    assert seen == [[NOT_SERVING, grpc.StatusCode.OK]] * 3
    channel.close()
