"""--dev as `make run` uses it: reflection on (grpcurl works without flags), one line per request,
and a final line saying the server stopped and why."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def _grpcurl(*args: str) -> str:
    result = subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dev_serves_reflection_and_logs_requests(start_server, pb):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--dev")
    services = _grpcurl(server.grpc_target, "list").split()
    assert "testproject.testapp.ProbeServiceController" in services and "grpc.health.v1.Health" in services
    reply = json.loads(_grpcurl("-d", '{"message": "hi"}', server.grpc_target, "testproject.testapp.ProbeServiceController/Echo"))
    assert reply["message"] == "hi"
    server.wait_for(r"gRPC ProbeServiceController\.Echo OK [\d.]+ms peer=")
    assert httpx.get(f"{server.http_url}/hello/", timeout=10).status_code == 200
    server.wait_for(r"HTTP GET /hello/ 200 [\d.]+ms peer=127\.0\.0\.1:\d+")
    os.killpg(server.proc.pid, signal.SIGTERM)
    assert server.wait(30) == 0
    assert "Stopped (received SIGTERM), exit code 0." in server.output
