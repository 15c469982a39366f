"""The lifecycle in-process: one side failing while serving stops the other, exit code 1."""
import contextlib

import anyio
import httpx
import pytest

from hybrid_server import Config, State
from hybrid_server.server import EXIT_FAILURE, EXIT_OK, HybridServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def config(pb):
    return Config(
        grpc_address="127.0.0.1:0", http_address="127.0.0.1:0", grace=1, drain_delay=0,
        handlers_hook="testproject.handlers.grpc_handlers", banner=False,
    )


async def _serving(server: HybridServer) -> None:
    with anyio.fail_after(10):
        while server.state is not State.SERVING:
            await anyio.sleep(0.01)


@contextlib.asynccontextmanager
async def serving(config):
    """Run a HybridServer in this loop; yields it once SERVING, then records its exit code."""
    server = HybridServer(config, install_signal_handlers=False)
    async with anyio.create_task_group() as tg:

        async def serve():
            server.exit_code = await server.serve()

        tg.start_soon(serve)
        await _serving(server)
        yield server


async def _readyz(server: HybridServer) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{server.http.port}/readyz")).status_code


async def test_shutdown_is_graceful(config):
    async with serving(config) as server:
        assert await _readyz(server) == 200
        server.shutdown()
    assert server.exit_code == EXIT_OK
    assert server.state is State.STOPPED


async def test_http_failure_stops_grpc(config, capsys):
    async with serving(config) as server:
        server.http.server.should_exit = True  # uvicorn leaves while the engine still serves
    assert server.exit_code == EXIT_FAILURE
    assert "HTTP server stopped unexpectedly" in capsys.readouterr().err


async def test_grpc_failure_stops_http(config, capsys):
    async with serving(config) as server:
        http_port = server.http.port
        await server.grpc.server.stop(None)  # the gRPC server dies under the engine
    assert server.exit_code == EXIT_FAILURE
    assert "gRPC server terminated unexpectedly" in capsys.readouterr().err
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{http_port}/healthz")


async def test_probe_paths_are_configurable(config):
    config = config.replace(healthz_path=None, readyz_path="/ready-now")
    async with serving(config) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http.port}") as client:
            assert (await client.get("/healthz")).status_code == 404  # handed to Django
            assert (await client.get("/ready-now")).text == "serving"
        server.shutdown()
    assert server.exit_code == EXIT_OK


async def test_thread_pool_backend_leaves_no_thread_behind(config):
    import threading

    before = {t.name for t in threading.enumerate()}
    async with serving(config.replace(backend="threads", http_address=None)) as server:
        assert any(t.name.startswith("grpc-bridge") for t in threading.enumerate())
        server.shutdown()
    assert server.exit_code == EXIT_OK
    await anyio.sleep(0.2)
    left = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert not [name for name in left if name.startswith("grpc-bridge")], left
