"""Section 6: --workers 2 against one worker (gRPC Echo RPS and HTTP RPS over many connections).

`grpcrunaioserver 127.0.0.1:0 --with-http 127.0.0.1:0` with `--workers 1` and `--workers 2`,
both running, NOT pinned (the point is to use both cores; the load generator, pinned to
LOAD_CPU, shares a core with a worker, so the ideal 2x is out of reach on 2 CPUs). gRPC:
h2load -c `workers_grpc_conns` connections (spread over the workers by the kernel's
SO_REUSEPORT hashing), 64 calls in flight in total; HTTP: h2load --h1 -c `workers_http_conns`
(one inherited listening socket, accepted by whichever worker is first). Interleaved
1/2/1/2/.../1; the ratio is per run against the neighbouring 1-worker runs.
"""
from __future__ import annotations

from typing import Any

from common import (
    BENCH_SERVICE,
    HELLO_PATH,
    MESSAGE,
    Server,
    bench_request,
    bracket_ratios,
    check_echo,
    check_hello,
    fmt_num,
    fmt_pct,
    interleave,
    median,
    session_cpu,
    spread,
)

from hybrid_server.testing.process import ServerGroup

INFLIGHT = 64


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    body = bench_request(message=MESSAGE)
    rows = []
    with ServerGroup(ctx.log) as servers:
        by_label: dict[str, Server] = {}
        for count in (1, 2):
            label = f"{count} worker{'s' if count > 1 else ''}"
            by_label[label] = servers.add(
                Server.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--workers", str(count),
                              env=ctx.env, cpu=None, label=f"--workers {count}"))  # one banner, once all serve
        frames = {label: check_echo(server.grpc_target) for label, server in by_label.items()}
        bodies = {label: check_hello(server.http_url) for label, server in by_label.items()}

        def one(kind: str, label: str, index: int, duration: float) -> dict[str, Any]:
            server = by_label[label]
            before = session_cpu(server.pid)
            if kind == "grpc":
                result = ctx.load.grpc(server.grpc_target, f"{BENCH_SERVICE}/Echo", body, frames[label], INFLIGHT,
                                       duration=duration, conns=s.workers_grpc_conns)
            else:
                result = ctx.load.http(server.http_url, HELLO_PATH, bodies[label], s.workers_http_conns,
                                       duration=duration)
            out = result.as_dict()
            out["server_cpu"] = round((session_cpu(server.pid) - before) / result.seconds, 3)
            ctx.log(f"  [workers] {kind} {label} #{index + 1}: {result.rps:,.0f} rps, p99 {result.p99_ms:.2f} ms, "
                    f"server cpu {out['server_cpu']:.0%} (all processes), load cpu {result.load_cpu:.0%}")
            return out

        for kind in ("grpc", "http"):
            for label in by_label:
                one(kind, label, -1, s.warmup)
            runs = interleave(list(by_label), s.workers_rounds,
                              lambda label, index, kind=kind: one(kind, label, index, s.workers_duration), "1 worker")
            ref = [run["rps"] for run in runs["1 worker"]]
            for label in by_label:
                rps = [run["rps"] for run in runs[label]]
                ratios = None if label == "1 worker" else bracket_ratios(ref, rps)
                rows.append({"kind": kind, "workers": label, "rps": median(rps), "spread": spread(rps),
                             "p99_ms": median(run["p99_ms"] for run in runs[label]),
                             "ratio": median(ratios) if ratios else None,
                             "ratios": [round(r, 4) for r in ratios] if ratios else None,
                             "server_cpu": median(run["server_cpu"] for run in runs[label]),
                             "connections": s.workers_grpc_conns if kind == "grpc" else s.workers_http_conns,
                             "runs": runs[label]})
        for server in by_label.values():
            check_echo(server.grpc_target)
            check_hello(server.http_url)
    return {"duration_s": s.workers_duration, "rounds": s.workers_rounds, "pinned": False, "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| traffic | connections | workers | RPS | spread | p99 ms | x 1 worker | server CPU (all processes) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}"
        kind = "gRPC Echo (64 in flight)" if row["kind"] == "grpc" else "HTTP GET /hello/"
        lines.append(f"| {kind} | {row['connections']} | {row['workers']} | {fmt_num(row['rps'])} | "
                     f"{fmt_pct(row['spread'])} | {row['p99_ms']:.2f} | {ratio} | {row['server_cpu']:.0%} |")
    return "\n".join(lines)
