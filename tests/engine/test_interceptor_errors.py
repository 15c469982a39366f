"""What an interceptor raises fails that call with the class name only (outside DEBUG), is
logged with its traceback, and the server keeps serving."""
import logging

import grpc
import pytest
from testproject.interceptors import RaisingInterceptor, SyncRaisingInterceptor

from hybrid_server.testing import LiveServer


@pytest.fixture(scope="module", params=["aio", "threads"])
def served(request, pb):
    interceptor = RaisingInterceptor() if request.param == "aio" else SyncRaisingInterceptor()
    hook = "testproject.handlers.grpc_handlers"
    with LiveServer(backend=request.param, interceptors=[interceptor], handlers_hook=hook) as server:
        yield server


@pytest.mark.parametrize("where", ["intercept", "wrapper"])
def test_interceptor_exception_hides_internals_and_is_logged(served, pb, where, caplog):
    pb2, pb2_grpc = pb
    stub = pb2_grpc.ProbeServiceControllerStub(served.channel())
    with caplog.at_level(logging.ERROR, logger="hybrid_server.grpc"), pytest.raises(grpc.RpcError) as failed:
        stub.Echo(pb2.ProbeMessage(message="x"), metadata=[("x-raise", where)], timeout=10)
    assert failed.value.code() == grpc.StatusCode.UNKNOWN
    assert failed.value.details() == "_Secret"
    records = [record for record in caplog.records if record.name == "hybrid_server.grpc"]
    assert len(records) == 1 and "SECRET" in str(records[0].exc_info[1])
    assert stub.Echo(pb2.ProbeMessage(message="after"), timeout=10).message == "after"
