"""Section 5: start-up time to the first answer, and memory (VmRSS) after load.

Three ways to serve the test project, each started `startup_runs` times, server on
SERVER_CPU, ports chosen up front: the clock starts just before the process is spawned and
stops at the first successful answer (gRPC: BenchServiceController.Echo with the right
message, polled every 5 ms once the port accepts connections; HTTP: GET /hello/ with the
right body). VmRSS from /proc/PID/status at the first answer and after load (the first `rss_runs` starts
only): `rss_grpc_calls` Echo (h2load, 64 in flight) and/or `rss_http_calls` GET /hello/ (16
connections).
  hybrid:    grpcrunaioserver ADDR --with-http ADDR   (first gRPC answer; first HTTP answer also shown)
             load: Echo calls + GETs
  gRPC-only: grpcrunaioserver ADDR                    load: Echo calls
  HTTP-only: uvicorn testproject.asgi:application ... load: GETs
"""
from __future__ import annotations

import socket
import time
from typing import Any

from common import (
    BENCH_SERVICE,
    HELLO_BODY,
    HELLO_PATH,
    MESSAGE,
    BenchError,
    Server,
    bench_request,
    check_echo,
    check_hello,
    grpc_call,
    http_get,
    median,
)
from http_rps import uvicorn_args

from hybrid_server.testing.process import free_port

POLL = 0.005
LIMIT = 60.0


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(server: Server, attempt: Any, what: str) -> float:
    """Seconds from the spawn to the first attempt() that returns True."""
    deadline = server.started_at + LIMIT
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise BenchError(f"{server.label} exited ({server.proc.returncode}) before {what}:\n{server.output[-3000:]}")
        try:
            if attempt():
                return time.monotonic() - server.started_at
        except Exception:
            pass
        time.sleep(POLL)
    raise BenchError(f"{server.label}: no {what} within {LIMIT:.0f}s:\n{server.output[-3000:]}")


def _grpc_ok(port: int) -> bool:
    if not _port_open(port):
        return False
    return grpc_call(f"127.0.0.1:{port}", "Echo", timeout=2, ready_timeout=2, message=MESSAGE).message == MESSAGE


def _http_ok(port: int) -> bool:
    status, body = http_get(f"http://127.0.0.1:{port}", HELLO_PATH, timeout=2)
    return status == 200 and body == HELLO_BODY


CONFIGS = ("hybrid", "gRPC-only", "HTTP-only")


def _server(config: str, grpc_port: int, http_port: int, env: dict[str, str]) -> Server:
    if config == "hybrid":
        return Server.manage("grpcrunaioserver", f"127.0.0.1:{grpc_port}", "--with-http", f"127.0.0.1:{http_port}",
                             env=env, label="hybrid")
    if config == "gRPC-only":
        return Server.manage("grpcrunaioserver", f"127.0.0.1:{grpc_port}", env=env, label="gRPC-only")
    return Server(uvicorn_args(http_port), env=env, label="HTTP-only (uvicorn)")


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    body = bench_request(message=MESSAGE)
    rows = []
    for config in CONFIGS:
        runs = []
        for index in range(s.startup_runs):
            grpc_port, http_port = free_port(), free_port()
            with _server(config, grpc_port, http_port, ctx.env) as server:  # started
                run: dict[str, Any] = {}
                if config != "HTTP-only":
                    run["first_grpc_s"] = _wait(server, lambda port=grpc_port: _grpc_ok(port), "gRPC answer")
                if config != "gRPC-only":
                    run["first_http_s"] = _wait(server, lambda port=http_port: _http_ok(port), "HTTP answer")
                run["first_answer_s"] = run.get("first_grpc_s", run.get("first_http_s"))
                run["rss_start_kib"] = server.rss_kib()
                if index < s.rss_runs:
                    if config != "HTTP-only":
                        frame = check_echo(f"127.0.0.1:{grpc_port}")
                        ctx.load.grpc(f"127.0.0.1:{grpc_port}", f"{BENCH_SERVICE}/Echo", body, frame, 64,
                                      count=s.rss_grpc_calls)
                    if config != "gRPC-only":
                        size = check_hello(f"http://127.0.0.1:{http_port}")
                        ctx.load.http(f"http://127.0.0.1:{http_port}", HELLO_PATH, size, 16, count=s.rss_http_calls)
                    run["rss_after_kib"] = server.rss_kib()
                runs.append(run)
                ctx.log(f"  [startup] {config} #{index + 1}: first answer {run['first_answer_s']:.3f} s"
                        + (f" (HTTP {run['first_http_s']:.3f} s)" if config == "hybrid" else "")
                        + f", RSS {run['rss_start_kib'] / 1024:.1f} MiB"
                        + (f" -> {run['rss_after_kib'] / 1024:.1f} MiB after load" if "rss_after_kib" in run else ""))

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float | None:
            values = [run[key] for run in runs if key in run]
            return median(values) if values else None

        rows.append({"config": config, "first_answer_s": med("first_answer_s"),
                     "first_answer_max_s": max(run["first_answer_s"] for run in runs),
                     "first_http_s": med("first_http_s") if config == "hybrid" else None,
                     "rss_start_mib": med("rss_start_kib") / 1024,
                     "rss_after_mib": (med("rss_after_kib") or 0) / 1024 or None, "runs": runs})
    return {"runs": s.startup_runs, "rss_runs": s.rss_runs, "rss_grpc_calls": s.rss_grpc_calls,
            "rss_http_calls": s.rss_http_calls, "rows": rows}


LOADS = {"hybrid": "{g} Echo + {h} GET", "gRPC-only": "{g} Echo", "HTTP-only": "{h} GET"}


def markdown(result: dict[str, Any]) -> str:
    g, h = f"{result['rss_grpc_calls'] / 1000:g}k", f"{result['rss_http_calls'] / 1000:g}k"
    lines = ["| configuration | first answer s (median) | max s | RSS at first answer MiB | RSS after load MiB | load |",
             "|---|---:|---:|---:|---:|---|"]
    for row in result["rows"]:
        first = f"{row['first_answer_s']:.3f}"
        if row["first_http_s"] is not None:
            first += f" (HTTP {row['first_http_s']:.3f})"
        after = "—" if row["rss_after_mib"] is None else f"{row['rss_after_mib']:.1f}"
        lines.append(f"| {row['config']} | {first} | {row['first_answer_max_s']:.3f} | {row['rss_start_mib']:.1f} | "
                     f"{after} | {LOADS[row['config']].format(g=g, h=h)} |")
    return "\n".join(lines)
