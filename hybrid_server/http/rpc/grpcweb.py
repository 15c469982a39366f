"""gRPC-Web (the grpc/grpc-web PROTOCOL-WEB spec): length-prefixed frames over a plain HTTP
response, the status and trailing metadata in a final frame flagged 0x80. `-text` content types
carry the same bytes in base64, each frame encoded on its own as it is sent."""
from __future__ import annotations

import base64
import re
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
    FLAG_TRAILERS,
    Codec,
    accepts_gzip,
    decompress,
    envelope,
    gzip_compress,
    single_message,
)
from hybrid_server.http.rpc.context import HttpRpcContext
from hybrid_server.http.rpc.routes import Route
from hybrid_server.http.rpc.status import ProtocolError, StatusCode, encode_grpc_message, grpc_timeout

# content type -> (codec, text mode)
CONTENT_TYPES = {
    "application/grpc-web": ("proto", False),
    "application/grpc-web+proto": ("proto", False),
    "application/grpc-web+json": ("json", False),
    "application/grpc-web-text": ("proto", True),
    "application/grpc-web-text+proto": ("proto", True),
}
_BASE64_CHUNK = re.compile(rb"[^=]*=*")


def decode_text(body: bytes) -> bytes:
    """A grpc-web-text body: base64, possibly several padded chunks one after the other."""
    data = b"".join(body.split())
    try:
        return b"".join(base64.b64decode(chunk + b"=" * (-len(chunk) % 4), validate=True)
                        for chunk in _BASE64_CHUNK.findall(data) if chunk)
    except ValueError:
        raise ProtocolError(StatusCode.INVALID_ARGUMENT, "protocol error: the grpc-web-text body is not base64") from None


def trailers_frame(status: Status) -> bytes:
    lines = [f"grpc-status: {status.code.value[0]}"]
    if status.details:
        lines.append(f"grpc-message: {encode_grpc_message(status.details)}")
    block = "\r\n".join(lines).encode() + b"\r\n"
    for name, value in metadata_headers(status.trailing):
        block += name + b": " + value + b"\r\n"
    return envelope(FLAG_TRAILERS, block)


class WebResponse:
    __slots__ = ("codec", "compress", "content_type", "ctx", "send", "started", "text")

    def __init__(self, codec: Codec, content_type: str, text: bool, ctx: HttpRpcContext, send: Send, compress: bool) -> None:
        self.codec = codec
        self.content_type = content_type.encode()
        self.text = text
        self.ctx = ctx
        self.send = send
        self.compress = compress
        self.started = False

    async def start(self) -> None:
        self.started = True
        headers = [(b"content-type", self.content_type)]
        if self.compress:
            headers.append((b"grpc-encoding", b"gzip"))
        headers += metadata_headers(self.ctx.initial_metadata)
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    def _frame(self, frame: bytes) -> bytes:
        return base64.b64encode(frame) if self.text else frame

    async def write(self, message: Any) -> None:
        if not self.started:
            await self.start()
        payload = self.codec.encode(message)
        flags = 0
        if self.compress and len(payload) >= COMPRESS_MIN_BYTES:
            payload, flags = gzip_compress(payload), FLAG_COMPRESSED
        await self.send({"type": "http.response.body", "body": self._frame(envelope(flags, payload)), "more_body": True})

    async def end(self, status: Status) -> None:
        self.ctx.finish()
        if not self.started:
            await self.start()
        await self.send({"type": "http.response.body", "body": self._frame(trailers_frame(status))})


async def serve(route: Route, codec: Codec, content_type: str, text: bool, headers: dict[str, str],
                ctx: HttpRpcContext, receive: Receive, send: Send, limit: int | None) -> None:
    assert route.handler is not None
    response = WebResponse(codec, content_type, text, ctx, send, accepts_gzip(headers.get("grpc-accept-encoding", "")))
    try:
        value = headers.get("grpc-timeout")
        timeout = None if value is None else grpc_timeout(value)
        encoding = headers.get("grpc-encoding", "identity")
        decompress(b"", encoding, limit)  # an unknown encoding is refused before the body is read
        body_limit = None if limit is None else (limit + 5) * 4 // 3 + 4 if text else limit + 5
        body = await read_body(receive, body_limit)
        if text:
            body = decode_text(body)
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
