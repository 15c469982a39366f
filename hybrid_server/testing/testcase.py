"""`HybridTestCase`: Django's `LiveServerTestCase` for a hybrid server.

One real server per test class, in a thread of the test process, on 127.0.0.1 port 0: the
project's `ROOT_HANDLERS_HOOK` services over gRPC (with its `SERVER_INTERCEPTORS` and
`GRPC_MIDDLEWARE`) and its Django ASGI app over HTTP, stopped at class teardown.

It is a `TransactionTestCase`, as `LiveServerTestCase` is: the server's threads have their own
connections and see what the test committed. In-memory SQLite databases (Django's default test
database for SQLite) are shared with the server as `LiveServerTestCase` shares them, in every
server thread (`database.shared_connections`). A failed test shows what the server logged while
it ran (the exception behind an UNKNOWN status, with its traceback) under its error.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import unittest
from typing import Any, ClassVar

from django.test import TransactionTestCase, modify_settings

from hybrid_server.testing.database import shared_connections
from hybrid_server.testing.live import LiveServer
from hybrid_server.testing.serverlog import SERVER_LOG, explain
from hybrid_server.testing.stubs import close_aio_channel, explaining_stub

LOCAL_HOSTS = ["127.0.0.1", "localhost"]


def allow_local_hosts() -> modify_settings:
    """`ALLOWED_HOSTS` plus the live server's host names, enabled; `.disable()` it afterwards."""
    change = modify_settings(ALLOWED_HOSTS={"append": LOCAL_HOSTS})
    change.enable()
    return change


class HybridTestCase(TransactionTestCase):
    """`self.grpc_channel`, `self.stub(StubClass)`, `self.aio_channel()`, `self.http`,
    `self.live_server_url`, `self.grpc_target`; `server_options` are `Options` fields
    (`backend="threads"`, `interceptors=[...]`, `handlers_hook=...`, `http_address=None`, ...)."""

    server_options: ClassVar[dict[str, Any]] = {}
    live_server: ClassVar[LiveServer]
    grpc_channel: ClassVar[Any]
    http: ClassVar[Any]  # an httpx.Client on the HTTP side (None without one)

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.addClassCleanup(allow_local_hosts().disable)
        sharing = shared_connections()
        sharing.__enter__()
        cls.addClassCleanup(sharing.__exit__, None, None, None)
        cls.live_server = LiveServer(**{"http_address": "127.0.0.1:0", **cls.server_options}).start()
        cls.addClassCleanup(cls.live_server.stop)
        cls.grpc_channel = cls.live_server.channel()
        cls.http = None
        if cls.live_server.server.http is not None:
            import httpx

            cls.http = httpx.Client(base_url=cls.live_server.http_url, timeout=30)
            cls.addClassCleanup(cls.http.close)

    # ------------------------------------------------------------------ addresses

    @property
    def live_server_url(self) -> str:
        return self.live_server.http_url

    @property
    def grpc_target(self) -> str:
        return self.live_server.grpc_target

    # ------------------------------------------------------------------ clients

    def stub(self, stub_class: Any) -> Any:
        """`stub_class` on `self.grpc_channel`, or, called in an async test, on a `grpc.aio`
        channel of the test's loop (closed when the test ends). A failed call's `grpc.RpcError`
        carries what the server logged during the call."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return explaining_stub(stub_class, self.grpc_channel)
        return explaining_stub(stub_class, self.aio_channel())

    def aio_channel(self) -> Any:
        """A `grpc.aio` channel for the running loop, closed when the test ends."""
        channel = self.live_server.aio_channel()
        self.__dict__.setdefault("_hybrid_aio_channels", []).append((channel, asyncio.get_running_loop()))
        return channel

    async def _close_aio_channels(self) -> None:
        channels = self.__dict__.pop("_hybrid_aio_channels", [])
        for channel, _loop in channels:
            await channel.close()

    def _close_leftover_channels(self) -> None:
        for channel, loop in self.__dict__.pop("_hybrid_aio_channels", []):
            close_aio_channel(channel, loop)

    # ------------------------------------------------------------------ failures explained

    def __call__(self, result: Any = None) -> Any:
        self._hybrid_wrap_test_method()
        try:
            return super().__call__(result)
        finally:
            self._close_leftover_channels()

    def debug(self) -> None:
        self._hybrid_wrap_test_method()
        try:
            super().debug()
        finally:
            self._close_leftover_channels()

    def _hybrid_wrap_test_method(self) -> None:
        """Before Django turns an async test method into a sync one: wrap it so that its error
        carries the server's log and its `grpc.aio` channels close inside its loop."""
        name = self._testMethodName
        method = getattr(self, name, None)
        if method is None or getattr(method, "_hybrid_wrapped", False):
            return
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                mark = SERVER_LOG.mark()
                try:
                    return await method(*args, **kwargs)
                except unittest.SkipTest:
                    raise
                except Exception as exc:
                    explain(exc, mark, "this test")
                    raise
                finally:
                    await self._close_aio_channels()

        else:

            @functools.wraps(method)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                mark = SERVER_LOG.mark()
                try:
                    return method(*args, **kwargs)
                except unittest.SkipTest:
                    raise
                except Exception as exc:
                    explain(exc, mark, "this test")
                    raise

        wrapper._hybrid_wrapped = True  # type: ignore[attr-defined]
        setattr(self, name, wrapper)
