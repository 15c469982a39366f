"""Section 9: Connect unary on the HTTP port against connectrpc's own generated ASGI app.

`BenchServiceController.Echo` called with Connect unary POSTs, JSON (`application/json`) and
binary (`application/proto`), on `grpcrunaioserver 127.0.0.1:0 --with-http 127.0.0.1:0 --loop
uvloop` (the whole per-RPC path: a Service per call, GRPC_MIDDLEWARE, the error mapping) and on
plain uvicorn serving the app that connectrpc 0.13's protoc plugin generates for the same
testapp.proto (`protobuf=google`), whose Echo returns the message. Same load (h2load --h1,
`http_conns` keep-alive connections, one request outstanding on each), servers pinned to
SERVER_CPU, interleaved with a closing connectrpc run. connectrpc and its plugin are installed
into benchmarks/.connectrpc (pip --target) the first time; h2load is required.
"""
from __future__ import annotations

import http.client
import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common import (
    BENCH_DIR,
    BENCH_SERVICE,
    MESSAGE,
    PYTHON,
    TESTPROJECT,
    BenchError,
    Server,
    bracket_ratios,
    cpu_seconds,
    fmt_num,
    fmt_pct,
    fmt_ratio,
    interleave,
    median,
    pb2,
    spread,
    verdict,
)

from hybrid_server.testing.process import ServerGroup

TARGET = 1.0
CONNECTRPC = "connectrpc 0.13 app on uvicorn"
HYBRID = "grpcrunaioserver --with-http"
SITE = BENCH_DIR / ".connectrpc"
PACKAGES = ["connectrpc==0.13.0", "protoc-gen-connectrpc==0.13.0"]
APP = '''from .testapp_connect import BenchServiceController, BenchServiceControllerASGIApplication
from .testapp_pb2 import BenchMessage


class Bench(BenchServiceController):  # the generated defaults answer unimplemented
    async def echo(self, request, ctx):
        return BenchMessage(message=request.message)


app = BenchServiceControllerASGIApplication(Bench())
'''
PATH = f"/{BENCH_SERVICE}/Echo"


def _install(log: Any) -> None:
    if (SITE / "connectrpc").is_dir() and (SITE / "bin" / "protoc-gen-connectrpc").exists():
        return
    log("  [connect] installing connectrpc and its protoc plugin into benchmarks/.connectrpc")
    done = subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--target", str(SITE), *PACKAGES],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"pip could not install {' '.join(PACKAGES)}:\n{done.stdout}{done.stderr}")


def _generate(workdir: Path) -> Path:
    """The generated app as the package `connectbench` under `workdir`."""
    package = workdir / "connectbench"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    proto_dir = TESTPROJECT / "testapp" / "grpc"
    plugin = SITE / "bin" / "protoc-gen-connectrpc"
    done = subprocess.run(
        [PYTHON, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"--plugin=protoc-gen-connectrpc={plugin}",
         f"--connectrpc_out={package}", "--connectrpc_opt=protobuf=google,io=async", f"--python_out={package}", "testapp.proto"],
        capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(SITE), "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise BenchError(f"protoc-gen-connectrpc failed:\n{done.stdout}{done.stderr}")
    (package / "app.py").write_text(APP)
    return workdir


def _post(base: str, body: bytes, content_type: str) -> bytes:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", PATH, body=body, headers={"content-type": content_type})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise BenchError(f"POST {base}{PATH} ({content_type}) answered {response.status} {data[:200]!r}")
    return data


def _check(base: str, codec: str, body: bytes) -> int:
    """One call; the response body size (what h2load must receive per call)."""
    data = _post(base, body, f"application/{codec}")
    message = json.loads(data)["message"] if codec == "json" else pb2().BenchMessage.FromString(data).message
    if message != MESSAGE:
        raise BenchError(f"Echo on {base} ({codec}) answered {data[:200]!r}")
    return len(data)


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    if not hasattr(ctx.load, "_run") or ctx.load.name != "h2load":
        raise BenchError("this section needs h2load (apt-get install nghttp2-client)")
    _install(ctx.log)
    root = _generate(ctx.workdir)
    bodies = {"json": json.dumps({"message": MESSAGE}).encode(), "proto": pb2().BenchMessage(message=MESSAGE).SerializeToString()}
    files = {codec: ctx.workdir / f"connect-{codec}.bin" for codec in bodies}
    for codec, path in files.items():
        path.write_bytes(bodies[codec])
    uvicorn = [PYTHON, "-m", "uvicorn", "connectbench.app:app", "--lifespan", "off", "--no-access-log",
               "--http", "httptools", "--loop", "uvloop", "--host", "127.0.0.1", "--port", "0"]
    env = {**ctx.env, "PYTHONPATH": f"{root}:{SITE}"}
    results: dict[str, Any] = {}
    with ServerGroup(ctx.log) as servers:
        plain = servers.add(Server(uvicorn, cwd=root, env=env, label=CONNECTRPC))
        hybrid = servers.add(Server.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0",
                                           "--loop", "uvloop", env=ctx.env, label=HYBRID))
        by_label = {CONNECTRPC: plain, HYBRID: hybrid}
        for codec in bodies:
            expected = {label: _check(server.http_url, codec, bodies[codec]) for label, server in by_label.items()}

            def one(label: str, index: int, duration: float = s.http_duration, codec: str = codec,
                    expected: dict[str, int] = expected) -> dict[str, Any]:
                server = by_label[label]
                before = cpu_seconds(server.pid)
                args = ["--h1", "-c", str(s.http_conns), "-t", "1", "-d", str(files[codec]),
                        "-H", f"content-type: application/{codec}", "-D", f"{max(1, round(duration * 1000))}ms"]
                result = ctx.load._run(args, f"{server.http_url}{PATH}", duration + 60, expected[label], duration)
                out = result.as_dict()
                out["server_cpu"] = round((cpu_seconds(server.pid) - before) / result.seconds, 3)
                ctx.log(f"  [connect {codec}] {label} #{index + 1}: {result.rps:,.0f} rps, p50 {result.p50_ms:.2f} ms, "
                        f"p99 {result.p99_ms:.2f} ms, server cpu {out['server_cpu']:.0%}")
                return out

            for label in by_label:
                one(label, -1, s.warmup)
            runs = interleave(list(by_label), s.http_rounds, one, CONNECTRPC)
            ref = [item["rps"] for item in runs[CONNECTRPC]]
            ref_cpu = [item["server_cpu"] for item in runs[CONNECTRPC]]
            rows = []
            for label in by_label:
                rps = [item["rps"] for item in runs[label]]
                ratios = None if label == CONNECTRPC else bracket_ratios(
                    ref, rps, ref_cpu, [item["server_cpu"] for item in runs[label]])
                rows.append({"server": label, "rps": median(rps), "spread": spread(rps),
                             "p50_ms": median(item["p50_ms"] for item in runs[label]),
                             "p99_ms": median(item["p99_ms"] for item in runs[label]),
                             "ratio": median(ratios) if ratios else None,
                             "ratios": [r if r is None else round(r, 4) for r in ratios] if ratios else None,
                             "server_cpu": median(item["server_cpu"] for item in runs[label]), "runs": runs[label]})
            results[codec] = rows
    return {"path": PATH, "connections": s.http_conns, "duration_s": s.http_duration, "rounds": s.http_rounds,
            "loop": "uvloop", "codecs": results}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| codec | server | RPS | spread | p50 ms | p99 ms | x connectrpc | server CPU |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for codec, rows in result["codecs"].items():
        for row in rows:
            ratio = fmt_ratio(row["ratio"], row["ratios"])
            lines.append(f"| {codec} | {row['server']} | {fmt_num(row['rps'])} | {fmt_pct(row['spread'])} | "
                         f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {ratio} | {row['server_cpu']:.0%} |")
    return "\n".join(lines)


def headline(result: dict[str, Any]) -> str:
    parts = []
    for codec, rows in result["codecs"].items():
        ratio = rows[1]["ratio"]
        parts.append(f"{codec} {ratio:.2f}x ({verdict(ratio >= TARGET)} ≥ {TARGET:.2f})" if ratio else f"{codec} n/a")
    return "Connect unary, hybrid / connectrpc's app: " + ", ".join(parts)
