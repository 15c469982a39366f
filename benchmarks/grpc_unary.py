"""Section 1: unary BenchServiceController.Echo, raw grpc.aio against grpcrunaioserver / grpcrunserver.

Two groups, each a set of servers running side by side on SERVER_CPU (an idle grpc server
costs no CPU), measured interleaved: round after round of [raw, ours...], then a closing raw
run, so each of our runs is compared with the raw runs just before and after it.
  asyncio: raw grpc.aio (asyncio) | grpcrunaioserver --loop asyncio | grpcrunserver Echo | SyncEcho
  uvloop:  raw grpc.aio (uvloop)  | grpcrunaioserver --loop uvloop
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common import (
    BENCH_DIR,
    BENCH_SERVICE,
    MESSAGE,
    PYTHON,
    ROOT,
    TESTPROJECT,
    BenchError,
    Server,
    bench_request,
    bracket_ratios,
    check_echo,
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

TARGET = 0.90


@dataclass(frozen=True)
class Row:
    label: str
    server: str
    loop: str
    action: str
    args: tuple[str, ...]
    raw: bool = False


def groups() -> dict[str, list[Row]]:
    raw = str(BENCH_DIR / "raw_server.py")
    runserver = ("manage.py", "grpcrunserver", "127.0.0.1:0")
    return {
        "asyncio": [
            Row("raw-asyncio", "raw grpc.aio", "asyncio", "Echo", (raw, "127.0.0.1:0"), raw=True),
            Row("aio-asyncio", "grpcrunaioserver", "asyncio", "Echo",
                ("manage.py", "grpcrunaioserver", "127.0.0.1:0", "--loop", "asyncio")),
            Row("runserver-Echo", "grpcrunserver", "threads", "Echo", runserver),
            Row("runserver-SyncEcho", "grpcrunserver", "threads", "SyncEcho", runserver),
        ],
        "uvloop": [
            Row("raw-uvloop", "raw grpc.aio", "uvloop", "Echo", (raw, "127.0.0.1:0", "--uvloop"), raw=True),
            Row("aio-uvloop", "grpcrunaioserver", "uvloop", "Echo",
                ("manage.py", "grpcrunaioserver", "127.0.0.1:0", "--loop", "uvloop")),
        ],
    }


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    body = bench_request(message=MESSAGE)
    rows_out: list[dict[str, Any]] = []
    for group, rows in groups().items():
        if ctx.filter and not any(ctx.filter in row.label for row in rows if not row.raw):
            continue
        rows = [row for row in rows if row.raw or not ctx.filter or ctx.filter in row.label]
        ctx.log(f"[unary] group {group}: {', '.join(row.label for row in rows)}")
        with ServerGroup(ctx.log) as servers:
            by_args: dict[tuple[str, ...], Server] = {}
            target: dict[str, tuple[Server, int]] = {}
            for row in rows:
                if row.args not in by_args:
                    cwd = ROOT if row.raw else TESTPROJECT
                    by_args[row.args] = servers.add(Server([PYTHON, *row.args], cwd=cwd, env=ctx.env, label=row.label))
                server = by_args[row.args]
                target[row.label] = (server, check_echo(server.grpc_target, row.action))

            def one(label: str, index: int, inflight: int, duration: float,
                    target: dict[str, tuple[Server, int]] = target, rows: list[Any] = rows) -> dict[str, Any]:
                server, frame = target[label]
                before = cpu_seconds(server.pid)
                result = ctx.load.grpc(server.grpc_target, f"{BENCH_SERVICE}/{_action(rows, label)}", body, frame,
                                       inflight, duration=duration)
                out = result.as_dict()
                out["server_cpu"] = round((cpu_seconds(server.pid) - before) / result.seconds, 3)
                ctx.log(f"  {label} x{inflight} #{index + 1}: {result.rps:,.0f} rps, p50 {result.p50_ms:.2f} ms, "
                        f"p99 {result.p99_ms:.2f} ms, server cpu {out['server_cpu']:.0%}, load cpu {result.load_cpu:.0%}")
                return out

            for inflight, duration, rounds in ((64, s.unary_duration, s.unary_rounds),
                                               (1, s.latency_duration, s.latency_rounds)):
                for row in rows:  # warm-up
                    ctx.load.grpc(target[row.label][0].grpc_target, f"{BENCH_SERVICE}/{row.action}", body,
                                  target[row.label][1], inflight, duration=s.warmup)
                runs = interleave([row.label for row in rows], rounds,
                                  lambda label, index, inflight=inflight, duration=duration:
                                  one(label, index, inflight, duration), rows[0].label)
                ref_rps = [run["rps"] for run in runs[rows[0].label]]
                ref_cpu = [run["server_cpu"] for run in runs[rows[0].label]]
                for row in rows:
                    rps = [run["rps"] for run in runs[row.label]]
                    cpu = [run["server_cpu"] for run in runs[row.label]]
                    ratios = None if row.raw else bracket_ratios(ref_rps, rps, ref_cpu, cpu)
                    rows_out.append({
                        "server": row.server, "loop": row.loop, "action": row.action, "inflight": inflight,
                        "rps": median(rps), "rps_spread": spread(rps),
                        "p50_ms": median(run["p50_ms"] for run in runs[row.label]),
                        "p99_ms": median(run["p99_ms"] for run in runs[row.label]),
                        "ratio": median(ratios) if ratios else None,
                        "ratios": [r if r is None else round(r, 4) for r in ratios] if ratios else None,
                        "reference": None if row.raw else f"raw grpc.aio {rows[0].loop}",
                        "server_cpu": median(run["server_cpu"] for run in runs[row.label]),
                        "load_cpu": median(run["load_cpu"] for run in runs[row.label]),
                        "runs": runs[row.label],
                    })
            for label, (server, _) in target.items():
                check_echo(server.grpc_target, _action(rows, label))  # still correct after the load
    if not rows_out:
        raise BenchError(f"no unary scenario matches {ctx.filter!r}")
    return {"rows": rows_out, "duration_s": s.unary_duration, "rounds": s.unary_rounds,
            "latency_duration_s": s.latency_duration, "latency_rounds": s.latency_rounds}


def _action(rows: list[Row], label: str) -> str:
    return next(row.action for row in rows if row.label == label)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| server | loop | action | in flight | RPS | spread | p50 ms | p99 ms | x raw (same loop) | server CPU | load CPU |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        ratio = fmt_ratio(row["ratio"], row["ratios"])
        if row["loop"] == "threads" and row["ratio"] is not None:
            ratio += " (vs asyncio)"
        lines.append(
            f"| {row['server']} | {row['loop']} | {row['action']} | {row['inflight']} | {fmt_num(row['rps'])} | "
            f"{fmt_pct(row['rps_spread'])} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {ratio} | "
            f"{row['server_cpu']:.0%} | {row['load_cpu']:.0%} |"
        )
    return "\n".join(lines)


def headline(result: dict[str, Any]) -> str:
    parts = []
    for row in result["rows"]:
        if row["server"] == "grpcrunaioserver" and row["inflight"] == 64 and row["ratio"] is not None:
            parts.append(f"{row['loop']} {row['ratio']:.2f}x ({verdict(row['ratio'] >= TARGET)} ≥ {TARGET:.2f})")
    return "Headline, grpcrunaioserver / raw grpc.aio at 64 in flight (median of bracketed per-run ratios): " + (
        "; ".join(parts) or "not measured")
