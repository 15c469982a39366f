"""Section 3: HTTP requests/s of GET /hello/ (a sync Django view), hybrid against plain uvicorn.

`grpcrunaioserver 127.0.0.1:0 --with-http 127.0.0.1:0 --loop uvloop` and
`uvicorn testproject.asgi:application --lifespan off --no-access-log --http httptools --loop uvloop`,
side by side on SERVER_CPU, same load (h2load --h1, `http_conns` keep-alive connections, one
request outstanding on each), interleaved uvicorn/hybrid with a closing uvicorn run.
"""
from __future__ import annotations

from typing import Any

from common import (
    HELLO_PATH,
    PYTHON,
    Server,
    bracket_ratios,
    check_hello,
    cpu_seconds,
    fmt_num,
    fmt_pct,
    fmt_ratio,
    interleave,
    median,
    spread,
    verdict,
)

from hybrid_server.testing.process import ServerGroup

TARGET = 0.95
UVICORN = "uvicorn (plain)"
HYBRID = "grpcrunaioserver --with-http"


def uvicorn_args(port: int = 0) -> list[str]:
    return [PYTHON, "-m", "uvicorn", "testproject.asgi:application", "--lifespan", "off", "--no-access-log",
            "--http", "httptools", "--loop", "uvloop", "--host", "127.0.0.1", "--port", str(port)]


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    with ServerGroup(ctx.log) as servers:
        plain = servers.add(Server(uvicorn_args(), env=ctx.env, label=UVICORN))
        hybrid = servers.add(Server.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0",
                                           "--loop", "uvloop", env=ctx.env, label=HYBRID))
        by_label = {UVICORN: plain, HYBRID: hybrid}
        body = {label: check_hello(server.http_url) for label, server in by_label.items()}

        def one(label: str, index: int, duration: float = s.http_duration) -> dict[str, Any]:
            server = by_label[label]
            before = cpu_seconds(server.pid)
            result = ctx.load.http(server.http_url, HELLO_PATH, body[label], s.http_conns, duration=duration)
            out = result.as_dict()
            out["server_cpu"] = round((cpu_seconds(server.pid) - before) / result.seconds, 3)
            ctx.log(f"  [http] {label} #{index + 1}: {result.rps:,.0f} rps, p50 {result.p50_ms:.2f} ms, "
                    f"p99 {result.p99_ms:.2f} ms, server cpu {out['server_cpu']:.0%}, load cpu {result.load_cpu:.0%}")
            return out

        for label in by_label:
            one(label, -1, s.warmup)
        runs = interleave(list(by_label), s.http_rounds, one, UVICORN)
        for server in by_label.values():
            check_hello(server.http_url)
    ref = [run["rps"] for run in runs[UVICORN]]
    ref_cpu = [run["server_cpu"] for run in runs[UVICORN]]
    rows = []
    for label in by_label:
        rps = [run["rps"] for run in runs[label]]
        ratios = None if label == UVICORN else bracket_ratios(ref, rps, ref_cpu, [run["server_cpu"] for run in runs[label]])
        rows.append({"server": label, "rps": median(rps), "spread": spread(rps),
                     "p50_ms": median(run["p50_ms"] for run in runs[label]),
                     "p99_ms": median(run["p99_ms"] for run in runs[label]),
                     "ratio": median(ratios) if ratios else None,
                     "ratios": [r if r is None else round(r, 4) for r in ratios] if ratios else None,
                     "server_cpu": median(run["server_cpu"] for run in runs[label]),
                     "load_cpu": median(run["load_cpu"] for run in runs[label]), "runs": runs[label]})
    return {"path": HELLO_PATH, "connections": s.http_conns, "duration_s": s.http_duration,
            "rounds": s.http_rounds, "loop": "uvloop", "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| server | RPS | spread | p50 ms | p99 ms | x uvicorn | server CPU | load CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        ratio = fmt_ratio(row["ratio"], row["ratios"])
        lines.append(f"| {row['server']} | {fmt_num(row['rps'])} | {fmt_pct(row['spread'])} | {row['p50_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {ratio} | {row['server_cpu']:.0%} | {row['load_cpu']:.0%} |")
    return "\n".join(lines)


def headline(result: dict[str, Any]) -> str:
    ratio = result["rows"][1]["ratio"]
    return f"Hybrid HTTP / plain uvicorn: {ratio:.2f}x ({verdict(ratio >= TARGET)} ≥ {TARGET:.2f})"
