"""The access log of the test project's services: one line per RPC on `django_socio_grpc.request`
(method, status, duration, peer, and the error's class), captured with caplog.

The levels and tracebacks of each kind of error, and the log without the access-log middleware,
are tested in test_errors.py and test_middleware.py.
"""
from __future__ import annotations

import logging
import re

import grpc
import pytest
from django.test import override_settings

from hybrid_server.settings import grpc_settings
from hybrid_server.testing import LiveServer
from tests.waiting import wait_until

LOGGER = "django_socio_grpc.request"
DEADLINE = 20.0
PEER = r"peer=ipv4:127\.0\.0\.1:\d+"


@pytest.fixture(scope="module", params=["aio", "threads"])
def served(request, pb):
    """LOG_OK_RESPONSE on, SyncEcho ignored: read when the server binds its servicers."""
    framework = {
        **grpc_settings.user_settings,
        "LOG_OK_RESPONSE": True,
        "IGNORE_LOG_FOR_ACTION": ["ProbeServiceController.SyncEcho"],
    }
    with override_settings(GRPC_FRAMEWORK=framework), LiveServer(backend=request.param) as server:
        yield server


@pytest.fixture
def stub(served, pb):
    return pb[1].ProbeServiceControllerStub(served.channel())


def _lines(caplog, count: int) -> list[logging.LogRecord]:
    """The records of the access log, once `count` have arrived: the server writes them in its
    own threads, sometimes after the client has its status. Fails the test after DEADLINE."""
    def records() -> list[logging.LogRecord]:
        return [record for record in caplog.records if record.name == LOGGER]

    wait_until(lambda: len(records()) >= count, f"{count} access-log lines (have {[r.getMessage() for r in records()]})",
               timeout=DEADLINE, interval=0.005)
    return records()


def test_one_line_per_rpc(stub, pb, caplog):
    pb2, _ = pb
    caplog.set_level(logging.INFO, logger=LOGGER)
    stub.Echo(pb2.ProbeMessage(message="a"), timeout=DEADLINE)
    with pytest.raises(grpc.RpcError):
        stub.Fail(pb2.ProbeMessage(message="not_found"), timeout=DEADLINE)
    stub.SyncEcho(pb2.ProbeMessage(message="ignored"), timeout=DEADLINE)
    assert len(list(stub.StreamAsync(pb2.ProbeMessage(message="s", count=2), timeout=DEADLINE))) == 2
    with pytest.raises(grpc.RpcError):
        list(stub.StreamSync(pb2.ProbeMessage(message="fail", count=2), timeout=DEADLINE))
    stub.Echo(pb2.ProbeMessage(message="last"), timeout=DEADLINE)  # SyncEcho's line would be in by now
    records = _lines(caplog, 5)
    by_action = {re.match(r"gRPC (\S+) ", record.getMessage()).group(1): record for record in records}
    assert len(records) == 5 and sorted(by_action) == [
        "ProbeServiceController.Echo", "ProbeServiceController.Fail",
        "ProbeServiceController.StreamAsync", "ProbeServiceController.StreamSync",
    ]  # two Echo lines, no SyncEcho line (IGNORE_LOG_FOR_ACTION)
    expected = {
        "ProbeServiceController.Echo": (logging.INFO, rf"OK \d+\.\dms {PEER}"),
        "ProbeServiceController.Fail": (logging.WARNING, rf"NOT_FOUND \d+\.\dms {PEER} \(NotFound\)"),
        "ProbeServiceController.StreamAsync": (logging.INFO, rf"OK \d+\.\dms {PEER}"),
        "ProbeServiceController.StreamSync": (logging.WARNING, rf"INVALID_ARGUMENT \d+\.\dms {PEER} \(InvalidArgument\)"),
    }
    for action, (level, rest) in expected.items():
        record = by_action[action]
        assert re.fullmatch(rf"gRPC {re.escape(action)} {rest}", record.getMessage()), record.getMessage()
        assert record.levelno == level and record.exc_info is None, action

