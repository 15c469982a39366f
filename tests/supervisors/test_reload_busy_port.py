"""--dev with a busy gRPC port says so and serves as soon as the port frees, without waiting for
a file change."""
import signal
import socket

import grpc


def test_dev_waits_for_a_busy_grpc_port(start_server, pb):
    pb2, pb2_grpc = pb
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    server = start_server("grpcrunaioserver", f"127.0.0.1:{port}", "--dev", ready=False)
    try:
        server.wait_for(rf"gRPC port 127.0.0.1:{port} is busy \(address in use.*\); waiting for it to free", timeout=60)
    finally:
        blocker.close()
    server.wait_ready(timeout=60)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = pb2_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="freed"), timeout=10)
    assert reply.message == "freed"
    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0
