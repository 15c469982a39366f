"""Every RPC of every service measured, around the method handler the server handle adopted.

The names and labels are go-grpc-prometheus's (`grpc_type`, `grpc_service`, `grpc_method`,
`grpc_code` in Go's spelling: `OK`, `NotFound`, `Canceled`, ...), so existing dashboards work.
Messages are counted where grpc (de)serializes them, so a stream read with `context.read()` or
written with `context.write()` counts as one iterated or yielded; the status is the one the
client receives:

- returned normally: `context.code()` if the behaviour set one, else OK (CANCELLED or
  DEADLINE_EXCEEDED when the client had gone: a client stream that was cancelled just ends);
- raised: `context.code()` (an abort, or a code set before raising), else UNKNOWN; CANCELLED or
  DEADLINE_EXCEEDED when the client had gone (a worker that stops waiting for it raises);
- cancelled (`asyncio.CancelledError`, a response stream closed early): DEADLINE_EXCEEDED when
  the deadline has passed (or is less than DEADLINE_SLACK away: see `_gone`), else CANCELLED.

Used only with metrics on: a server without them never sees this module.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Prometheus's (and go-grpc-prometheus's) default buckets, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("grpc_type", "grpc_service", "grpc_method")
_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
_TYPES = {
    (False, False): "unary", (True, False): "client_stream", (False, True): "server_stream", (True, True): "bidi_stream",
}
DEADLINE_SLACK = 0.1  # seconds
OK, CANCELLED, UNKNOWN, DEADLINE_EXCEEDED = (
    grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED,
)


def go_code(code: grpc.StatusCode) -> str:
    """grpc's `NOT_FOUND` as Go's `codes.Code.String()` writes it: `NotFound` (`Canceled`, `OK`)."""
    if code is OK:
        return "OK"
    if code is CANCELLED:
        return "Canceled"
    return "".join(part.capitalize() for part in code.name.split("_"))


def _code(context: Any) -> grpc.StatusCode | None:
    """The code the behaviour set or aborted with (None: none set)."""
    try:
        code = context.code()
    except Exception:  # a context without code() (a foreign wrapper)
        return None
    return code if isinstance(code, grpc.StatusCode) else None


def _gone(context: Any) -> grpc.StatusCode:
    """A call that ended early: its deadline passed, or its client cancelled it. A client's own
    deadline expiring reaches the server as a cancellation, a moment before the server's copy of
    the deadline (which started when the request arrived): within DEADLINE_SLACK it is the deadline."""
    try:
        remaining = context.time_remaining()
    except Exception:
        remaining = None
    return DEADLINE_EXCEEDED if remaining is not None and remaining <= DEADLINE_SLACK else CANCELLED


def _ended(context: Any) -> bool:
    """The RPC is over for the client already: it cancelled, or its deadline passed."""
    try:
        return bool(context.cancelled() if hasattr(context, "cancelled") else not context.is_active())
    except Exception:
        return False


def _finished(context: Any) -> grpc.StatusCode:
    """The status of a behaviour that returned normally."""
    code = _code(context)
    if code is not None:
        return code
    return _gone(context) if _ended(context) else OK


def _raised(context: Any) -> grpc.StatusCode:
    """The status of a behaviour that raised: what the client saw when the RPC had ended before
    (a worker that gave up on a gone client raises), else the code set or aborted with, or UNKNOWN."""
    if _ended(context):
        return _gone(context)
    return _code(context) or UNKNOWN


class MethodSeries:
    """The series of one method, resolved once: a call pays a few increments, no label lookup."""

    __slots__ = ("_codes", "_handled", "_labels", "in_flight", "received", "seconds", "sent", "started")

    def __init__(self, metrics: GrpcMetrics, labels: tuple[str, str, str]) -> None:
        self.started = metrics.started.labels(*labels)
        self.in_flight = metrics.in_flight.labels(*labels)
        self.seconds = metrics.seconds.labels(*labels)
        self.received = metrics.received.labels(*labels)
        self.sent = metrics.sent.labels(*labels)
        self._handled = metrics.handled
        self._labels = labels
        self._codes: dict[grpc.StatusCode, Any] = {}

    def begin(self) -> float:
        self.started.inc()
        self.in_flight.inc()
        return time.perf_counter()

    def end(self, code: grpc.StatusCode, began: float) -> None:
        self.seconds.observe(time.perf_counter() - began)
        self.in_flight.dec()
        child = self._codes.get(code)
        if child is None:
            child = self._codes[code] = self._handled.labels(*self._labels, go_code(code))
        child.inc()


class GrpcMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.started = Counter(
            "grpc_server_started_total", "Total number of RPCs started on the server.", LABELS, registry=registry)
        self.handled = Counter(
            "grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.",
            (*LABELS, "grpc_code"), registry=registry)
        self.seconds = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
            LABELS, buckets=BUCKETS, registry=registry)
        self.received = Counter(
            "grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", LABELS,
            registry=registry)
        self.sent = Counter(
            "grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", LABELS,
            registry=registry)
        self.in_flight = Gauge(
            "grpc_server_in_flight", "Number of RPCs being handled by the server now.", LABELS, registry=registry,
            multiprocess_mode="livesum")
        self._series: dict[tuple[str, str, str], MethodSeries] = {}

    def series(self, grpc_type: str, service: str, method: str) -> MethodSeries:
        key = (grpc_type, service, method)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = MethodSeries(self, key)
        return series

    def wrap(self, handler: Any, service: str, method: str) -> Any:
        """`handler` (a grpc.RpcMethodHandler) measured; anything else returned as it is."""
        kind = next((kind for kind in _KINDS if getattr(handler, kind, None) is not None), None)
        if kind is None:
            return handler
        request_streaming, response_streaming = bool(handler.request_streaming), bool(handler.response_streaming)
        series = self.series(_TYPES[request_streaming, response_streaming], service, method)
        behaviour = measured(getattr(handler, kind), series, response_streaming)
        return handler._replace(
            request_deserializer=_counting(handler.request_deserializer, series.received),
            response_serializer=_counting(handler.response_serializer, series.sent),
            **{kind: behaviour},
        )


def _counting(codec: Callable[[Any], Any] | None, counter: Any) -> Callable[[Any], Any]:
    """grpc calls a handler's (de)serializer once per message: count there (None: bytes as they are)."""
    inc = counter.inc
    if codec is None:

        def passing(message: Any) -> Any:
            inc()
            return message

        return passing

    def counted(message: Any) -> Any:
        inc()
        return codec(message)

    return counted


def measured(behaviour: Callable[..., Any], series: MethodSeries, response_streaming: bool) -> Callable[..., Any]:
    """`behaviour` of any kind (coroutine, async generator, function, generator function)."""
    begin, end = series.begin, series.end
    if inspect.iscoroutinefunction(behaviour):

        async def coroutine(request: Any, context: Any) -> Any:
            began = begin()
            code = UNKNOWN
            try:
                response = await behaviour(request, context)
                code = _finished(context)
                return response
            except asyncio.CancelledError:
                code = _gone(context)
                raise
            except BaseException:
                code = _raised(context)
                raise
            finally:
                end(code, began)

        return coroutine
    if inspect.isasyncgenfunction(behaviour):

        async def generator(request: Any, context: Any) -> Any:
            began = begin()
            code = UNKNOWN
            try:
                async for item in behaviour(request, context):
                    yield item
            except (asyncio.CancelledError, GeneratorExit):
                code = _gone(context)
                raise
            except BaseException:
                code = _raised(context)
                raise
            else:
                code = _finished(context)
            finally:
                end(code, began)

        return generator
    if getattr(behaviour, "experimental_non_blocking", False):
        return _non_blocking(behaviour, series)

    def function(request: Any, context: Any, *rest: Any) -> Any:
        began = begin()
        try:
            result = behaviour(request, context, *rest)
        except BaseException:  # a thread-pool abort is a bare Exception(), the code on the context
            end(_raised(context), began)
            raise
        if response_streaming:
            return _streamed(result, context, end, began)
        end(_finished(context), began)
        return result

    if hasattr(behaviour, "experimental_thread_pool"):
        function.experimental_thread_pool = behaviour.experimental_thread_pool  # type: ignore[attr-defined]
    return function


def _streamed(iterator: Any, context: Any, end: Callable[[grpc.StatusCode, float], None], began: float) -> Any:
    code = UNKNOWN
    try:
        yield from iterator
    except GeneratorExit:  # grpc stopped reading: the client went away
        code = _gone(context)
        raise
    except BaseException:
        code = _raised(context)
        raise
    else:
        code = _finished(context)
    finally:
        end(code, began)


def _non_blocking(behaviour: Callable[..., Any], series: MethodSeries) -> Callable[..., Any]:
    """A thread-pool behaviour that answers through a callback (grpc's health `Watch`): it ends
    when the callback is given None (OK), or when the RPC terminates without that (CANCELLED)."""

    def function(request: Any, context: Any, send: Callable[[Any], None]) -> Any:
        began = series.begin()
        done = [False]

        def finish(code: grpc.StatusCode) -> None:
            if not done[0]:
                done[0] = True
                series.end(code, began)

        def counted_send(message: Any) -> None:
            if message is None:
                finish(_code(context) or OK)
            send(message)

        if not context.add_callback(lambda: finish(_code(context) or _gone(context))):
            finish(_gone(context))  # the RPC had already terminated
        try:
            return behaviour(request, context, counted_send)
        except BaseException:
            finish(_raised(context))
            raise

    function.experimental_non_blocking = True  # type: ignore[attr-defined]
    if hasattr(behaviour, "experimental_thread_pool"):
        function.experimental_thread_pool = behaviour.experimental_thread_pool  # type: ignore[attr-defined]
    return function
