"""The Connect protocol (connectrpc.com/docs/protocol): unary calls as plain HTTP POSTs
(`application/json` or `application/proto`, errors as JSON bodies with a mapped HTTP status,
trailers as `trailer-` headers) and server streams in envelopes (`application/connect+json` or
`+proto`, ended by the end-of-stream message that carries the status and the trailers)."""
from __future__ import annotations

import base64
import json
from typing import Any

from hybrid_server.http.rpc.calls import (
    Receive,
    Send,
    Status,
    call_server_stream,
    call_unary,
    metadata_headers,
    read_body,
)
from hybrid_server.http.rpc.codec import (
    COMPRESS_MIN_BYTES,
    FLAG_COMPRESSED,
    FLAG_END_STREAM,
    Codec,
    accepts_gzip,
    decompress,
    envelope,
    gzip_compress,
    single_message,
)
from hybrid_server.http.rpc.context import HttpRpcContext
from hybrid_server.http.rpc.routes import Route
from hybrid_server.http.rpc.status import CONNECT_NAMES, HTTP_STATUS, ProtocolError, StatusCode, connect_timeout

UNARY_TYPES = {"application/json": "json", "application/proto": "proto"}
STREAM_TYPES = {"application/connect+json": "json", "application/connect+proto": "proto"}
_JSON = (b"content-type", b"application/json")


def check_version(headers: dict[str, str]) -> None:
    version = headers.get("connect-protocol-version")
    if version is not None and version != "1":
        raise ProtocolError(StatusCode.INVALID_ARGUMENT, f"connect-protocol-version must be \"1\", got {version!r}")


def timeout_of(headers: dict[str, str]) -> float | None:
    value = headers.get("connect-timeout-ms")
    return None if value is None else connect_timeout(value)


def error_json(status: Status) -> dict[str, Any]:
    error: dict[str, Any] = {"code": CONNECT_NAMES[status.code]}
    if status.details:
        error["message"] = status.details
    return error


def _trailer_headers(metadata: Any) -> list[tuple[bytes, bytes]]:
    return metadata_headers(metadata, "trailer-")


async def send_error(send: Send, status: Status, initial: Any = (), close: bool = False) -> None:
    """A Connect unary error: the mapped HTTP status, the error as JSON, trailers as headers."""
    body = json.dumps(error_json(status)).encode()
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    headers += metadata_headers(initial) + _trailer_headers(status.trailing)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": HTTP_STATUS.get(status.code, 500), "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def unary(route: Route, codec: Codec, headers: dict[str, str], ctx: HttpRpcContext,
                receive: Receive, send: Send, limit: int | None) -> None:
    assert route.handler is not None
    timeout = timeout_of(headers)
    check_version(headers)
    encoding = headers.get("content-encoding", "identity")
    if encoding not in ("identity", "gzip"):  # refused before the body is read
        decompress(b"", encoding, limit)
    body = await read_body(receive, limit)
    body = decompress(body, encoding, limit)
    request = codec.decode(body)
    outcome = await call_unary(route.handler, request, ctx, receive, timeout)
    if outcome is None:  # the client went away
        return
    response, status = outcome
    ctx.finish()
    if not status.ok:
        await send_error(send, status, ctx.initial_metadata)
        return
    try:
        payload = codec.encode(response)
    except Exception as exc:
        raise ProtocolError(StatusCode.INTERNAL, f"the method's response could not be encoded ({type(exc).__name__})") from exc
    response_headers = [(b"content-type", b"application/" + codec.name.encode())]
    if len(payload) >= COMPRESS_MIN_BYTES and accepts_gzip(headers.get("accept-encoding", "")):
        payload = gzip_compress(payload)
        response_headers.append((b"content-encoding", b"gzip"))
    response_headers.append((b"content-length", str(len(payload)).encode()))
    response_headers += metadata_headers(ctx.initial_metadata) + _trailer_headers(status.trailing)
    await send({"type": "http.response.start", "status": 200, "headers": response_headers})
    await send({"type": "http.response.body", "body": payload})


# --------------------------------------------------------------------------- streams


def end_of_stream(status: Status) -> bytes:
    end: dict[str, Any] = {}
    if not status.ok:
        end["error"] = error_json(status)
    if status.trailing:
        metadata: dict[str, list[str]] = {}
        for key, value in status.trailing:
            name = key.lower()
            if name.endswith("-bin"):
                text = base64.b64encode(value if isinstance(value, bytes) else str(value).encode()).decode().rstrip("=")
            else:
                text = value if isinstance(value, str) else bytes(value).decode("latin-1")
            metadata.setdefault(name, []).append(text)
        end["metadata"] = metadata
    return envelope(FLAG_END_STREAM, json.dumps(end, separators=(",", ":")).encode())


class StreamResponse:
    """Headers at the first message (or at the end), envelopes, the end-of-stream message."""

    __slots__ = ("codec", "compress", "ctx", "send", "started")

    def __init__(self, codec: Codec, ctx: HttpRpcContext, send: Send, compress: bool) -> None:
        self.codec = codec
        self.ctx = ctx
        self.send = send
        self.compress = compress
        self.started = False

    async def start(self) -> None:
        self.started = True
        headers = [(b"content-type", b"application/connect+" + self.codec.name.encode())]
        if self.compress:
            headers.append((b"connect-content-encoding", b"gzip"))
        headers += metadata_headers(self.ctx.initial_metadata)
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    async def write(self, message: Any) -> None:
        if not self.started:
            await self.start()
        payload = self.codec.encode(message)
        flags = 0
        if self.compress and len(payload) >= COMPRESS_MIN_BYTES:
            payload, flags = gzip_compress(payload), FLAG_COMPRESSED
        await self.send({"type": "http.response.body", "body": envelope(flags, payload), "more_body": True})

    async def end(self, status: Status) -> None:
        self.ctx.finish()
        if not self.started:
            await self.start()
        await self.send({"type": "http.response.body", "body": end_of_stream(status)})


async def stream(route: Route, codec: Codec, headers: dict[str, str], ctx: HttpRpcContext,
                 receive: Receive, send: Send, limit: int | None) -> None:
    """A unary or server-streaming method called with the streaming protocol."""
    assert route.handler is not None
    compress = accepts_gzip(headers.get("connect-accept-encoding", ""))
    response = StreamResponse(codec, ctx, send, compress)
    try:
        timeout = timeout_of(headers)
        check_version(headers)
        encoding = headers.get("connect-content-encoding", "identity")
        decompress(b"", encoding, limit)  # an unknown encoding is refused before the body is read
        body = await read_body(receive, None if limit is None else limit + 5)
        request = codec.decode(single_message(body, encoding, limit))
    except ProtocolError as exc:
        await response.end(Status(exc.code, exc.message))
        return
    if route.streams_response:
        status = await call_server_stream(route.handler, request, ctx, receive, timeout, response.write)
    else:
        outcome = await call_unary(route.handler, request, ctx, receive, timeout)
        status = None
        if outcome is not None:
            message, status = outcome
            if status.ok:
                await response.write(message)
    if status is not None:
        await response.end(status)
