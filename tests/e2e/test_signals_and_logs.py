"""A closing terminal (SIGHUP) drains like SIGTERM; grpc core's own log lines, client text among
them, stay off stderr unless GRPC_VERBOSITY asks for them."""
import signal
import socket
import struct

import grpc
import pytest


def _frame(kind: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", 0) + payload


def _read_until_ping_ack(sock: socket.socket, data: bytes) -> None:
    """Frames are handled in order: the PING's ACK means what came before it was read too."""
    buffer = b""
    while True:
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            kind, flags = buffer[3], buffer[4]
            if len(buffer) < 9 + length:
                break
            if kind == 6 and flags & 1 and buffer[9 : 9 + length] == data:
                return
            buffer = buffer[9 + length :]
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection before answering the PING"
        buffer += chunk


@pytest.mark.parametrize("command", ["grpcrunaioserver", "grpcrunserver"])
def test_sighup_drains_like_sigterm(start_server, pb, command, tmp_path):
    pb2, pb2_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--grace", "30")
    release = tmp_path / "release"
    with grpc.insecure_channel(server.grpc_target) as channel:
        stream = pb2_grpc.ProbeServiceControllerStub(channel).HoldAsync(pb2.ProbeMessage(message=str(release)), timeout=30)
        assert next(stream).message == "started"  # in flight, server-side
        server.signal(signal.SIGHUP)
        server.wait_for(r"Stopping \(received SIGHUP\)")
        release.write_text("")
        assert [reply.message for reply in stream] == ["released"]
        assert stream.code() == grpc.StatusCode.OK
    assert server.wait(30) == 0


@pytest.mark.parametrize("verbosity", [None, "INFO"])
def test_client_goaway_text_is_printed_only_when_asked(start_server, monkeypatch, verbosity):
    monkeypatch.delenv("GRPC_VERBOSITY", raising=False)  # this test process set it when importing us
    server = start_server("grpcrunaioserver", "127.0.0.1:0", env={"GRPC_VERBOSITY": verbosity} if verbosity else None)
    evil = b"\x1b[31mEVIL\nSECOND LINE"
    with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=10) as sock:
        sock.sendall(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, b"")
            + _frame(7, struct.pack(">II", 0, 2) + evil) + _frame(6, b"probe!!!")
        )
        _read_until_ping_ack(sock, b"probe!!!")
    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0
    if verbosity is None:
        assert "EVIL" not in server.output and "goaway" not in server.output.lower()
    else:  # the operator asked for grpc core's lines: the same connection is then reported
        assert "goaway" in server.output.lower()
