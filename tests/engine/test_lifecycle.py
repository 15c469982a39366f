"""The lifecycle in-process: a HybridServer in the test's loop, both sides on 127.0.0.1:0.

STARTING -> SERVING -> DRAINING -> STOPPED; one side failing while serving stops the other with
exit code 1; the probes follow the state.
"""
from __future__ import annotations

import contextlib
import threading

import anyio
import grpc
import httpx
import pytest

from hybrid_server import EXIT_FAILURE, EXIT_FORCED, EXIT_OK, Options, State
from hybrid_server.server import HybridServer
from tests.engine.support import BACKENDS, DEADLINE

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def options(pb, backend):
    return Options(
        grpc_address="127.0.0.1:0", http_address="127.0.0.1:0", grace=1, drain_delay=0, backend=backend,
        handlers_hook="testproject.handlers.grpc_handlers", banner=False,
    )


async def _until(condition, what: str) -> None:
    """Wait for a state the server reaches on its own; fail the test after DEADLINE."""
    with anyio.move_on_after(DEADLINE):
        while not condition():
            await anyio.sleep(0.005)
        return
    pytest.fail(f"the server did not reach {what} within {DEADLINE:g}s")


@contextlib.asynccontextmanager
async def serving(options):
    """Run a HybridServer in this loop; yields it once SERVING, then records its exit code."""
    server = HybridServer(options, install_signal_handlers=False)
    server.exit_code = None
    async with anyio.create_task_group() as tg:

        async def serve():
            server.exit_code = await server.serve()

        tg.start_soon(serve)
        await _until(lambda: server.state is not State.STARTING, "SERVING")
        assert server.state is State.SERVING, server.exit_code
        try:
            yield server
        except BaseException:
            server.lifecycle.force()  # a failed test must not leave the server running
            raise
        await _until(server.stopped.is_set, "STOPPED")  # the test ends the server; it must stop by itself


async def _get(server: HybridServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http.port}") as client:
        return await client.get(path)


async def _echo(server: HybridServer, pb) -> str:
    pb2, pb_grpc = pb
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc.port}") as channel:
        reply = await pb_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="up"), timeout=DEADLINE)
    return reply.message


async def test_shutdown_is_graceful(options, pb):
    async with serving(options) as server:
        assert server.serving.is_set() and not server.stopped.is_set()
        assert (await _get(server, "/readyz")).status_code == 200
        assert await _echo(server, pb) == "up"
        server.shutdown()
    assert server.exit_code == EXIT_OK
    assert server.state is State.STOPPED and server.stopped.is_set()


async def test_readiness_follows_the_state(options):
    async with serving(options.replace(drain_delay=60)) as server:
        ready = await _get(server, "/readyz")
        assert (ready.status_code, ready.text) == (200, "serving")
        server.shutdown("test drain")
        await _until(lambda: server.state is State.DRAINING, "DRAINING")
        draining = await _get(server, "/readyz")
        assert (draining.status_code, draining.text) == (503, "draining")
        assert (await _get(server, "/healthz")).status_code == 200  # alive while draining
        server.lifecycle.force()  # this loop is the server's: a second SIGINT ends the drain delay
    assert server.exit_code == EXIT_FORCED


async def test_http_failure_stops_grpc(options, capsys):
    async with serving(options) as server:
        grpc_port = server.grpc.port
        server.http.server.should_exit = True  # uvicorn leaves while the engine still serves
    assert server.exit_code == EXIT_FAILURE
    assert "Error: HTTP server stopped unexpectedly" in capsys.readouterr().err
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            await channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_grpc_failure_stops_http(options, capsys):
    async with serving(options) as server:
        http_port = server.http.port
        if server.grpc.is_aio:
            await server.grpc.server.stop(None)  # the gRPC server dies under the engine
        else:
            server.grpc.server.stop(None)
    assert server.exit_code == EXIT_FAILURE
    assert "Error: gRPC server terminated unexpectedly" in capsys.readouterr().err
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{http_port}/healthz")


async def test_probe_paths_are_configurable(options):
    async with serving(options.replace(healthz_path=None, readyz_path="/ready-now")) as server:
        assert (await _get(server, "/healthz")).status_code == 404  # handed to Django
        assert (await _get(server, "/ready-now")).text == "serving"
        assert (await _get(server, "/readyz")).status_code == 404
        server.shutdown()
    assert server.exit_code == EXIT_OK


def _server_threads() -> set[threading.Thread]:
    """Threads that may belong to a server: not the client channels' pollers, nor the idle
    workers of this test loop's own thread pool (anyio's, used for waits)."""
    return {
        t for t in threading.enumerate()
        if t is not threading.main_thread() and "_poll_wrapper" not in t.name and t.name != "AnyIO worker thread"
    }


async def test_no_thread_is_left_behind(options, pb):
    pb2, pb_grpc = pb
    before = _server_threads()
    async with serving(options.replace(http_address=None)) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc.port}") as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            for action in ("Echo", "SyncEcho"):  # both kinds of action: worker threads, the bridge loop
                await getattr(stub, action)(pb2.ProbeMessage(message="x"), timeout=DEADLINE)
        started = _server_threads() - before
        names = {t.name for t in started}
        assert "grpc-worker_0" in names  # the --max-workers pool ran the def action
        if options.backend == "threads":
            assert "grpc-bridge-loop" in names
        server.shutdown()
    assert server.exit_code == EXIT_OK
    for thread in started:  # bounded: a thread still alive after DEADLINE fails the test
        await anyio.to_thread.run_sync(thread.join, DEADLINE)
    assert [t.name for t in started if t.is_alive()] == []
