"""A minimal HTTP/2 client over a plain TCP socket, for clients no library would be: one that
never opens its flow-control window (benchmarks/slow_reader.py).

It writes its own frames (RFC 9113) and HPACK literals without indexing or Huffman coding (RFC
7541 allows a client to send only those), and reads the server's frames without decoding
their header blocks: it counts what the server did (SETTINGS it advertised, HEADERS per stream,
DATA bytes, RST_STREAM codes, GOAWAY). It answers SETTINGS and PING (as any live client does,
so the server does not drop it as dead) and never sends WINDOW_UPDATE.
"""
from __future__ import annotations

import select
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE = 0x2, 0x3, 0x4
REFUSED_STREAM = 0x7


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _hpack_int(value: int, prefix_bits: int = 7) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out, value = bytearray([limit]), value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def header_block(headers: list[tuple[str, str]]) -> bytes:
    """HPACK: each field a literal without indexing with a literal name (0x00), no Huffman."""
    out = bytearray()
    for name, value in headers:
        out += b"\x00" + _hpack_int(len(name)) + name.encode() + _hpack_int(len(value)) + value.encode()
    return bytes(out)


@dataclass
class Seen:
    """What the server did on this connection."""

    settings: dict[int, int] = field(default_factory=dict)
    headers: Counter = field(default_factory=Counter)  # stream -> HEADERS frames (response, trailers)
    ended: set[int] = field(default_factory=set)  # streams the server ended (END_STREAM)
    data_bytes: int = 0
    resets: Counter = field(default_factory=Counter)  # RST_STREAM error code -> streams
    goaway: int | None = None  # its error code
    closed: bool = False  # the server closed the connection

    @property
    def max_concurrent_streams(self) -> int | None:
        return self.settings.get(SETTINGS_MAX_CONCURRENT_STREAMS)


class RawH2:
    """One HTTP/2 connection whose streams have a receive window of `window` bytes (0: the
    server may send no DATA at all). `unary()` opens a gRPC unary call; `pump()` reads."""

    def __init__(self, port: int, host: str = "127.0.0.1", window: int = 0, timeout: float = 5.0) -> None:
        self.authority = f"{host}:{port}"
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seen = Seen()
        self.next_stream = 1
        self._buffer = b""
        settings = struct.pack(">HI", SETTINGS_ENABLE_PUSH, 0) + struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, window)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))

    def unary(self, path: str, message: bytes) -> int:
        """HEADERS and one DATA frame (the gRPC-framed `message`, END_STREAM); returns the stream id."""
        stream, self.next_stream = self.next_stream, self.next_stream + 2
        block = header_block([(":method", "POST"), (":scheme", "http"), (":path", path),
                              (":authority", self.authority), ("content-type", "application/grpc"), ("te", "trailers")])
        body = b"\x00" + struct.pack(">I", len(message)) + message
        self.sock.sendall(frame(HEADERS, END_HEADERS, stream, block) + frame(DATA, END_STREAM, stream, body))
        return stream

    def pump(self, seconds: float) -> Seen:
        """Read and count the server's frames for `seconds` (or until it closes the connection)."""
        deadline = time.monotonic() + seconds
        while not self.seen.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([self.sock], [], [], left)
            if not readable:
                break
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.seen.closed = True
                break
            self._buffer += chunk
            self._frames()
        return self.seen

    def _frames(self) -> None:
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                return
            kind, flags = self._buffer[3], self._buffer[4]
            stream = int.from_bytes(self._buffer[5:9], "big") & 0x7FFFFFFF
            payload, self._buffer = self._buffer[9:9 + length], self._buffer[9 + length:]
            if kind == SETTINGS and not flags & ACK:
                for offset in range(0, len(payload) - 5, 6):
                    key, value = struct.unpack(">HI", payload[offset:offset + 6])
                    self.seen.settings[key] = value
                self.sock.sendall(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                self.sock.sendall(frame(PING, ACK, 0, payload))
            elif kind == HEADERS:
                self.seen.headers[stream] += 1
            elif kind == DATA:
                self.seen.data_bytes += length
            if kind in (HEADERS, DATA) and flags & END_STREAM:
                self.seen.ended.add(stream)
            elif kind == RST_STREAM:
                self.seen.resets[int.from_bytes(payload[:4], "big")] += 1
            elif kind == GOAWAY:
                self.seen.goaway = int.from_bytes(payload[4:8], "big")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
