"""`hybrid_server.testing.LiveServer`, the in-process harness itself: addresses, channels, exit
codes, a failed start, stopping twice."""
from __future__ import annotations

import grpc
import pytest

from hybrid_server import EXIT_FAILURE, EXIT_OK, State
from hybrid_server.testing import LiveServer, LiveServerError
from tests.engine.support import DEADLINE


def test_addresses_channels_and_exit_code(pb):
    pb2, pb_grpc = pb
    server = LiveServer(http_address="127.0.0.1:0").start()
    assert server.state is State.SERVING
    assert server.grpc_target == f"127.0.0.1:{server.grpc_port}" and server.grpc_port > 0
    assert server.http_url == f"http://127.0.0.1:{server.http_port}" and server.http_port not in (0, server.grpc_port)
    channel = server.channel()
    assert pb_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="x"), timeout=DEADLINE).message == "x"
    assert server.stop() == EXIT_OK
    assert server.state is State.STOPPED
    with pytest.raises(ValueError):  # closed with the server
        pb_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(), timeout=DEADLINE)
    assert server.stop() == EXIT_OK  # stopping twice is harmless


def test_failed_start_is_a_live_server_error(pb, capsys):
    server = LiveServer(backend="threads", handlers_hook="testproject.nowhere.hook")
    with pytest.raises(LiveServerError, match="did not start"):
        server.start(timeout=DEADLINE)
    assert server.exit_code == EXIT_FAILURE
    assert "Error: ROOT_HANDLERS_HOOK: cannot import 'testproject.nowhere.hook'" in capsys.readouterr().err
    assert server.stop() == EXIT_FAILURE  # and stopping it afterwards is harmless


def test_aio_channel_is_for_the_callers_loop(pb):
    import asyncio

    pb2, pb_grpc = pb

    async def call(server: LiveServer) -> str:
        async with server.aio_channel() as channel:
            assert isinstance(channel, grpc.aio.Channel)
            reply = await pb_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="aio"), timeout=DEADLINE)
        return reply.message

    with LiveServer() as server:
        assert asyncio.run(call(server)) == "aio"
