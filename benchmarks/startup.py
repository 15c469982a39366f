"""Section 5: start-up, from exec to the first answered call, and memory (VmRSS).

The configurations below are started in rounds, one start of each per round in this order,
with a closing start of the peer (the reference of the ratios, which bracket each of our
starts like the throughput sections do); before the timed rounds each is started once
untimed (bytecode caches written, files in the page cache: a deployed server's situation).
Servers on SERVER_CPU, ports chosen up front; the clock starts just before the process is
spawned and stops at the first successful answer, polled every 5 ms from this process on
LOAD_CPU (gRPC: BenchServiceController.Echo with the right message, a fresh channel per
attempt once the port accepts connections; HTTP: GET /hello/ with the right body).
  django-socio-grpc 0.25 grpcrunaioserver ADDR   on benchmarks/.peer-venv
  gRPC-only: grpcrunaioserver ADDR               ours, as installed (benchmarks/installed.py)
  hybrid:    grpcrunaioserver ADDR --with-http ADDR   first answer = both protocols answered
  raw grpc.aio script, plain uvicorn (HTTP-only): orientation
Every Django configuration serves the same project, benchmarks/peer (written for
django-socio-grpc 0.25; ours serves it unchanged): the same apps, settings, URLs and stubs.
Also: the CPU time the process used up to its first answer (less disturbed by other load on
the host than the wall time), VmRSS at the first answer and, for the first `rss_runs`
rounds, after `rss_grpc_calls` Echo (h2load, 64 in flight) and/or `rss_http_calls` GETs.
"""
from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import installed
import peer_env
from common import (
    BENCH_DIR,
    BENCH_SERVICE,
    FAST_RECONNECT,
    HELLO_BODY,
    HELLO_PATH,
    MESSAGE,
    PYTHON,
    ROOT,
    BenchError,
    Server,
    bench_request,
    bracket_ratios,
    check_echo,
    check_hello,
    clean_environ,
    cpu_seconds,
    fmt_ratio,
    http_get,
    interleave,
    median,
    pb2,
    verdict,
)
from http_rps import uvicorn_args

from hybrid_server.testing.process import free_port

POLL = 0.005
LIMIT = 60.0
PEER = "django-socio-grpc 0.25 grpcrunaioserver"
GRPC_ONLY, HYBRID, RAW, UVICORN = "gRPC-only grpcrunaioserver", "hybrid grpcrunaioserver --with-http", \
    "raw grpc.aio script", "HTTP-only plain uvicorn"
TARGETS = {GRPC_ONLY: 1.0, HYBRID: 1.25}  # x the peer's start


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(server: Server, attempt: Any, what: str) -> float:
    """Seconds from the spawn to the first successful attempt(): it returns the moment its
    answer arrived (a grpc channel's close() then takes another ~200 ms, not counted), or None."""
    deadline = server.started_at + LIMIT
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise BenchError(f"{server.label} exited ({server.proc.returncode}) before {what}:\n{server.output[-3000:]}")
        try:
            answered = attempt()
            if answered:
                return answered - server.started_at
        except Exception:
            pass
        time.sleep(POLL)
    raise BenchError(f"{server.label}: no {what} within {LIMIT:.0f}s:\n{server.output[-3000:]}")


def _grpc_ok(port: int) -> float | None:
    """A fresh channel's Echo; the time its answer arrived, None when it did not answer right."""
    import grpc
    from testapp.grpc import testapp_pb2_grpc

    if not _port_open(port):
        return None
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=FAST_RECONNECT) as channel:
        grpc.channel_ready_future(channel).result(timeout=2)
        reply = testapp_pb2_grpc.BenchServiceControllerStub(channel).Echo(pb2().BenchMessage(message=MESSAGE), timeout=2)
        answered = time.monotonic()
    return answered if reply.message == MESSAGE else None


def _http_ok(port: int) -> float | None:
    status, body = http_get(f"http://127.0.0.1:{port}", HELLO_PATH, timeout=2)
    return time.monotonic() if status == 200 and body == HELLO_BODY else None


def _server(config: str, grpc_port: int, http_port: int, env: dict[str, str], ours: str) -> Server:
    if config == PEER:
        return peer_env.PeerServer("grpcrunaioserver", env=env, port=grpc_port, label="peer")
    if config == HYBRID:
        return Server([ours, "manage.py", "grpcrunaioserver", f"127.0.0.1:{grpc_port}", "--with-http",
                       f"127.0.0.1:{http_port}"], cwd=peer_env.PEER_DIR, env=env, label="hybrid")
    if config == GRPC_ONLY:
        return Server([ours, "manage.py", "grpcrunaioserver", f"127.0.0.1:{grpc_port}"], cwd=peer_env.PEER_DIR,
                      env=env, label="gRPC-only")
    if config == RAW:
        return Server([PYTHON, str(BENCH_DIR / "raw_server.py"), f"127.0.0.1:{grpc_port}"], cwd=ROOT, env=env, label="raw")
    return Server([ours, *uvicorn_args(http_port)[1:]], cwd=peer_env.PEER_DIR, env=env, label="HTTP-only (uvicorn)")


def _start_once(ctx: Any, config: str, load: bool, ours: str) -> dict[str, Any]:
    s = ctx.settings
    body = bench_request(message=MESSAGE)
    grpc_port, http_port = free_port(), free_port()
    with _server(config, grpc_port, http_port, ctx.env, ours) as server:  # started
        run: dict[str, Any] = {}
        # HTTP first: closing a grpc channel takes ~200 ms, which would delay the next poll.
        if config == HYBRID or config == UVICORN:
            run["first_http_s"] = _wait(server, lambda port=http_port: _http_ok(port), "HTTP answer")
        if config != UVICORN:
            run["first_grpc_s"] = _wait(server, lambda port=grpc_port: _grpc_ok(port), "gRPC answer")
        run["first_answer_s"] = max(run.get("first_grpc_s", 0.0), run.get("first_http_s", 0.0))
        run["cpu_s"] = cpu_seconds(server.pid)
        run["rss_start_kib"] = server.rss_kib()
        if load:
            if config != UVICORN:
                frame = check_echo(f"127.0.0.1:{grpc_port}")
                ctx.load.grpc(f"127.0.0.1:{grpc_port}", f"{BENCH_SERVICE}/Echo", body, frame, 64, count=s.rss_grpc_calls)
            if config in (HYBRID, UVICORN):
                size = check_hello(f"http://127.0.0.1:{http_port}")
                ctx.load.http(f"http://127.0.0.1:{http_port}", HELLO_PATH, size, 16, count=s.rss_http_calls)
            run["rss_after_kib"] = server.rss_kib()
    return run


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    configs = [PEER, GRPC_ONLY, HYBRID, RAW, UVICORN]
    if peer_env.python(ctx.log) is None:
        configs.remove(PEER)
    reference = configs[0]
    ours = str(installed.python())
    if not (peer_env.PEER_DIR / "testapp" / "grpc" / "testapp_pb2_grpc.py").exists():  # no peer: our generateproto
        ctx.log("  [startup] generating benchmarks/peer's protos with our generateproto (the peer is unavailable)")
        subprocess.run([ours, "manage.py", "generateproto"], cwd=peer_env.PEER_DIR, check=True, timeout=120,
                       capture_output=True, env=clean_environ(ctx.env))
    for config in configs:  # untimed: bytecode written, files cached
        _start_once(ctx, config, load=False, ours=ours)

    def one(config: str, index: int) -> dict[str, Any]:
        run = _start_once(ctx, config, load=index < s.rss_runs and config != RAW, ours=ours)
        ctx.log(f"  [startup] {config} #{index + 1}: first answer {run['first_answer_s']:.3f} s"
                + (f" (gRPC {run['first_grpc_s']:.3f} s, HTTP {run['first_http_s']:.3f} s)" if config == HYBRID else "")
                + f", CPU {run['cpu_s']:.2f} s, RSS {run['rss_start_kib'] / 1024:.1f} MiB"
                + (f" -> {run['rss_after_kib'] / 1024:.1f} MiB after load" if "rss_after_kib" in run else ""))
        return run

    runs = interleave(configs, s.startup_runs, one, reference)
    ref = [run["first_answer_s"] for run in runs[reference]]
    ref_cpu = [run["cpu_s"] for run in runs[reference]]
    rows = []
    for config in configs:
        config_runs = runs[config]

        def med(key: str, config_runs: list[dict[str, Any]] = config_runs) -> float | None:
            values = [run[key] for run in config_runs if key in run]
            return median(values) if values else None

        # Time ratios: ours / the peer's (lower is better), bracketed like the throughput ratios.
        ratios = None if config == reference or reference != PEER else bracket_ratios(
            ref, [run["first_answer_s"] for run in config_runs])
        cpu_ratios = None if ratios is None else bracket_ratios(ref_cpu, [run["cpu_s"] for run in config_runs])
        rows.append({"config": config, "first_answer_s": med("first_answer_s"),
                     "first_answer_max_s": max(run["first_answer_s"] for run in config_runs),
                     "first_grpc_s": med("first_grpc_s"), "first_http_s": med("first_http_s"),
                     "cpu_s": med("cpu_s"),
                     "ratio": median(ratios) if ratios else None, "ratios": ratios,
                     "cpu_ratio": median(cpu_ratios) if cpu_ratios else None,
                     "rss_start_mib": (med("rss_start_kib") or 0) / 1024,
                     "rss_after_mib": (med("rss_after_kib") or 0) / 1024 or None, "runs": config_runs})
    return {"runs": s.startup_runs, "rss_runs": s.rss_runs, "rss_grpc_calls": s.rss_grpc_calls,
            "rss_http_calls": s.rss_http_calls, "rows": rows, "reference": reference,
            "peer": None if reference == PEER else peer_env.unavailable_reason()}


LOADS = {PEER: "{g} Echo", GRPC_ONLY: "{g} Echo", HYBRID: "{g} Echo + {h} GET", RAW: "—", UVICORN: "{h} GET"}


def markdown(result: dict[str, Any]) -> str:
    g, h = f"{result['rss_grpc_calls'] / 1000:g}k", f"{result['rss_http_calls'] / 1000:g}k"
    lines = [f"Median of {result['runs']} interleaved starts each (the peer's bracket each of ours).", "",
             "| configuration | first answer s (median) | max s | x peer | CPU s to first answer | x peer (CPU) | "
             "RSS at first answer MiB | RSS after load MiB | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in result["rows"]:
        first = f"{row['first_answer_s']:.3f}"
        if row["config"] == HYBRID and row["first_http_s"] is not None:
            first += f" (gRPC {row['first_grpc_s']:.3f}, HTTP {row['first_http_s']:.3f})"
        after = "—" if row["rss_after_mib"] is None else f"{row['rss_after_mib']:.1f}"
        cpu_ratio = "—" if row.get("cpu_ratio") is None else f"{row['cpu_ratio']:.2f}"
        lines.append(f"| {row['config']} | {first} | {row['first_answer_max_s']:.3f} | "
                     f"{fmt_ratio(row['ratio'], row['ratios'])} | {row['cpu_s']:.3f} | {cpu_ratio} | "
                     f"{row['rss_start_mib']:.1f} | {after} | {LOADS[row['config']].format(g=g, h=h)} |")
    if result.get("peer"):
        lines += ["", f"django-socio-grpc 0.25 unavailable: {result['peer']}"]
    return "\n".join(lines)


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in result["rows"]:
        target = TARGETS.get(row["config"])
        if target is not None and row["ratio"] is not None:
            out.append({"goal": f"start-up to first answer, {row['config']} / django-socio-grpc 0.25 ≤ {target:.2f}x",
                        "figure": f"{row['ratio']:.3f}x ({row['first_answer_s']:.3f} s)", "met": row["ratio"] <= target})
    return out


def headline(result: dict[str, Any]) -> str:
    return "; ".join(f"{goal['goal']}: {goal['figure']} ({verdict(goal['met'])})" for goal in goals(result)) or (
        "not measured (no peer)")
