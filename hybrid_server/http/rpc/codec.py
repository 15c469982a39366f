"""Messages on the wire: the two codecs (binary protobuf, proto3 JSON), gzip, and envelopes.

Binary requests are decoded by the method's own (guarded) deserializer, as on the gRPC port;
JSON goes through `google.protobuf.json_format`, requests parsed into the method's request class
(from the default descriptor pool, where every generated `_pb2` module registers its messages,
or the class the method deserializes with). A method whose requests are not protobuf messages
is served with the binary codec only.
"""
from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

from hybrid_server.http.rpc.status import ProtocolError, StatusCode

FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02  # Connect's end-of-stream message
FLAG_TRAILERS = 0x80  # gRPC-Web's trailers frame
COMPRESS_MIN_BYTES = 1024  # smaller responses are sent uncompressed even when the client accepts gzip
_HEADER = struct.Struct(">BI")


def request_class(service: str, method: str, deserializer: Any) -> Any:
    """The request message class of `/service/method`: from the default pool, else the class
    whose `FromString` the method deserializes with (a service registered without a .proto)."""
    from google.protobuf import descriptor_pool, message_factory  # type: ignore[import-untyped]

    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
        return message_factory.GetMessageClass(descriptor.input_type)
    except Exception:
        pass
    original = getattr(deserializer, "__wrapped__", deserializer)  # the guard keeps the original
    owner = getattr(original, "__self__", None)
    return owner if isinstance(owner, type) and hasattr(owner, "DESCRIPTOR") else None


class Codec:
    """How one method's messages are read and written in one format ("proto" or "json")."""

    __slots__ = ("decode", "encode", "name")

    def __init__(self, name: str, decode: Callable[[bytes], Any], encode: Callable[[Any], bytes]) -> None:
        self.name = name
        self.decode = decode
        self.encode = encode


def proto_codec(deserializer: Callable[[bytes], Any] | None, serializer: Callable[[Any], bytes] | None) -> Codec:
    decode = deserializer if deserializer is not None else (lambda data: data)
    encode = serializer if serializer is not None else (lambda message: message)
    return Codec("proto", decode, encode)


def json_codec(message_class: Any) -> Codec:
    """Requests parsed into `message_class`; responses (protobuf messages) written as proto3 JSON."""
    from google.protobuf import json_format

    name = message_class.DESCRIPTOR.full_name
    loads = json.loads

    def decode(data: bytes) -> Any:
        message = message_class()
        if data.strip():
            try:  # ParseDict on json.loads: Parse builds a decoder per call (to refuse duplicate keys)
                value = loads(data)
                if not isinstance(value, dict):
                    raise ValueError(f"expected a JSON object, got {type(value).__name__}")
                json_format.ParseDict(value, message, ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
                raise ProtocolError(StatusCode.INVALID_ARGUMENT, f"request is not valid JSON for {name}: {exc}") from None
        return message

    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def encode(message: Any) -> bytes:
        return dumps(json_format.MessageToDict(message)).encode()

    return Codec("json", decode, encode)


# --------------------------------------------------------------------------- compression

ENCODINGS = ("gzip", "identity")


def accepts_gzip(header: str) -> bool:
    return "gzip" in header


def gzip_compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def decompress(data: bytes, encoding: str, limit: int | None) -> bytes:
    """`data` decoded per `encoding`; more than `limit` bytes of output is RESOURCE_EXHAUSTED."""
    if encoding in ("", "identity"):
        return data
    if encoding != "gzip":
        raise ProtocolError(
            StatusCode.UNIMPLEMENTED, f"unknown compression {encoding!r}: supported are {', '.join(ENCODINGS)}"
        )
    decompressor = zlib.decompressobj(47)  # gzip or zlib header
    try:
        out = decompressor.decompress(data, limit + 1 if limit is not None else 0)
    except zlib.error:
        raise ProtocolError(StatusCode.INVALID_ARGUMENT, "request is not valid gzip") from None
    if limit is not None and len(out) > limit:
        raise too_large(limit, None)
    return out


def too_large(limit: int, size: int | None) -> ProtocolError:
    actual = f"{size} vs. {limit}" if size is not None else f"more than {limit}"
    return ProtocolError(StatusCode.RESOURCE_EXHAUSTED, f"Received message larger than max ({actual})")


# --------------------------------------------------------------------------- envelopes


def envelope(flags: int, payload: bytes) -> bytes:
    return _HEADER.pack(flags, len(payload)) + payload


def single_message(body: bytes, encoding: str, limit: int | None) -> bytes:
    """The one message of an enveloped request body (a unary or server-streaming call)."""
    if len(body) < 5:
        raise ProtocolError(StatusCode.INVALID_ARGUMENT, "protocol error: the request has no complete message")
    flags, size = _HEADER.unpack_from(body)
    if limit is not None and size > limit:
        raise too_large(limit, size)
    if len(body) < 5 + size:
        raise ProtocolError(StatusCode.INVALID_ARGUMENT, "protocol error: the request's message is cut short")
    if len(body) > 5 + size:
        rest = body[5 + size :]
        # Only an (empty) Connect end-of-stream envelope may follow; anything else is a second message.
        if not (len(rest) >= 5 and rest[0] & FLAG_END_STREAM):
            raise ProtocolError(StatusCode.UNIMPLEMENTED, "protocol error: more than one request message for a unary request")
    payload = body[5 : 5 + size]
    if flags & FLAG_COMPRESSED:
        if encoding in ("", "identity"):
            raise ProtocolError(StatusCode.INTERNAL, "protocol error: compressed message without a message encoding")
        payload = decompress(payload, encoding, limit)
    return payload
