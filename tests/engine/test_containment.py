"""SystemExit or KeyboardInterrupt raised by one Django view fails that request (500), never the
server: the other side and later requests keep being served."""
import httpx
import pytest

from hybrid_server.lifecycle import State
from hybrid_server.testing import LiveServer


@pytest.mark.parametrize("backend", ["aio", "threads"])
def test_a_view_that_exits_fails_only_its_request(backend, pb):
    pb2, pb2_grpc = pb
    with LiveServer(backend=backend, http_address="127.0.0.1:0", handlers_hook="testproject.handlers.grpc_handlers") as server:
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            assert http.get("/exit-sync/").status_code == 500
            assert http.get("/exit-async/").status_code == 500
            assert http.get("/hello/").text == "hello from django"
        assert server.state is State.SERVING
        stub = pb2_grpc.ProbeServiceControllerStub(server.channel())
        assert stub.Echo(pb2.ProbeMessage(message="alive"), timeout=10).message == "alive"
