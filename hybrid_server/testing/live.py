"""A live server in this process, for tests and benchmarks: real listeners on 127.0.0.1 port 0,
a real `HybridServer` in a thread of its own, stopped with a graceful drain.

While one runs, what the server logs at WARNING and above is kept (`serverlog.SERVER_LOG`), so
that stubs made with `stub()` add the server's side (exception, traceback) to a failed call's
`grpc.RpcError`."""
from __future__ import annotations

import threading
import time
from typing import Any

from hybrid_server.lifecycle import State
from hybrid_server.options import Options
from hybrid_server.testing.serverlog import SERVER_LOG, ServerLog


class LiveServerError(RuntimeError):
    """The server did not start, or did not stop in time."""


class LiveServer:
    """`with LiveServer(backend="threads", http_address="127.0.0.1:0") as server: ...`

    Keywords are `Options` fields; by default gRPC only on 127.0.0.1:0, no banner, no drain
    delay, a one-second grace. Django must be set up (pytest-django or a test runner does it).
    """

    def __init__(self, options: Options | None = None, **changes: Any) -> None:
        base = options or Options(grpc_address="127.0.0.1:0", banner=False, drain_delay=0.0, grace=1.0)
        self.options = base.replace(**changes)
        self.server: Any = None
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._channels: list[Any] = []
        self._logging = False

    # ------------------------------------------------------------------ running

    def start(self, timeout: float = 30.0) -> LiveServer:
        from hybrid_server.server import HybridServer

        self.server = server = HybridServer(self.options, install_signal_handlers=False)
        self._thread = threading.Thread(target=self._run, name="hybrid-live-server", daemon=True)
        self._thread.start()
        if not server.settled.wait(timeout) or not server.serving.is_set():
            self.stop(timeout)
            raise LiveServerError(f"the server did not start (exit code {self.exit_code})") from self.error
        if not self._logging:
            self._logging = True
            SERVER_LOG.acquire()
        return self

    def _run(self) -> None:
        import anyio

        try:
            self.exit_code = anyio.run(self.server.serve, backend="asyncio",
                                       backend_options={"use_uvloop": self.server.config.use_uvloop})
        except BaseException as exc:  # reported by start() / stop()
            self.error = exc
            self.server.stopped.set()

    def stop(self, timeout: float = 30.0) -> int | None:
        """Drain and stop; returns the exit code."""
        for channel in self._channels:
            channel.close()
        self._channels.clear()
        if self.server is None or self._thread is None:
            return self.exit_code
        self.server.shutdown("test finished")
        self._thread.join(timeout)
        self._wait_for_abandoned_work(timeout)
        if self._logging:
            self._logging = False
            SERVER_LOG.release()
        if self._thread.is_alive():
            raise LiveServerError(f"the server did not stop within {timeout:g}s")
        return self.exit_code

    def _wait_for_abandoned_work(self, timeout: float) -> None:
        """A `def` action past its deadline keeps its pool thread until it returns (threads cannot
        be stopped): wait for it, bounded, so that what it still logs or writes belongs to this
        server's test and not to the next one."""
        backend = getattr(getattr(self.server, "grpc", None), "backend", None)
        pool = getattr(backend, "executor", None)
        deadline = time.monotonic() + timeout
        while pool is not None and pool.running and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def state(self) -> State:
        return self.server.state

    @property
    def grpc_port(self) -> int:
        return int(self.server.grpc.port)

    @property
    def http_port(self) -> int:
        return int(self.server.http.port) if self.server.http is not None else 0

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.server.config.http_over_tls else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    def channel(self) -> Any:
        """A `grpc.Channel` to this server, closed when the server stops."""
        import grpc

        channel = grpc.insecure_channel(self.grpc_target)
        self._channels.append(channel)
        return channel

    def aio_channel(self) -> Any:
        """A `grpc.aio.Channel` for the caller's event loop; the caller closes it."""
        import grpc

        return grpc.aio.insecure_channel(self.grpc_target)

    def stub(self, stub_class: Any, channel: Any = None) -> Any:
        """`stub_class` on `channel` (default: a new `channel()`), its failed calls explained:
        their `grpc.RpcError` carries what the server logged during the call."""
        from hybrid_server.testing.stubs import explaining_stub

        return explaining_stub(stub_class, channel if channel is not None else self.channel())

    @property
    def log(self) -> ServerLog:
        """What servers of this process logged at WARNING and above while one ran."""
        return SERVER_LOG
