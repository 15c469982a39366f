"""The gRPC port advertises a per-connection stream limit (100 unless SERVER_OPTIONS says otherwise)."""
import socket
import struct

import pytest

from hybrid_server.testing import LiveServer


def _no_services(server):
    """Only the transport matters here."""


def _advertised_settings(port: int) -> dict[int, int]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        buffer = b""
        while True:
            while len(buffer) >= 9:
                length, kind, flags = int.from_bytes(buffer[:3], "big"), buffer[3], buffer[4]
                if len(buffer) < 9 + length:
                    break
                payload, buffer = buffer[9 : 9 + length], buffer[9 + length :]
                if kind == 4 and not flags & 1:  # the server's SETTINGS (not an ACK)
                    return {ident: value for ident, value in struct.iter_unpack(">HI", payload)}
            chunk = sock.recv(65536)
            assert chunk, "no SETTINGS frame from the server"
            buffer += chunk


@pytest.mark.parametrize("server_options, expected", [((), 100), ([("grpc.max_concurrent_streams", 7)], 7)])
def test_max_concurrent_streams_is_advertised(server_options, expected):
    options = {"server_options": list(server_options)} if server_options else {}
    with LiveServer(handlers_hook=_no_services, **options) as server:
        assert _advertised_settings(server.grpc_port).get(0x3) == expected
