"""Section 1: unary BenchServiceController.Echo: ours, the raw references and the peer.

Three groups, each a set of servers running side by side on SERVER_CPU (an idle grpc server
costs no CPU), measured interleaved: round after round of [reference, others...], then a
closing reference run, so each run is compared with the reference runs just before and after.
  asyncio: raw grpc.aio (asyncio) | grpcrunaioserver --loop asyncio | django-socio-grpc 0.25 grpcrunaioserver
  uvloop:  raw grpc.aio (uvloop)  | grpcrunaioserver --loop uvloop
  threads: raw grpc.server(ThreadPoolExecutor(10)), def Echo | grpcrunserver SyncEcho (def) | Echo (async def)
           (django-socio-grpc's grpcrunserver is started and called: it fails every call; noted)
At 64 in flight the figure is RPS; at 1 in flight it is the latency of one lone call (p50),
so the ratio there is raw p50 / ours p50 (higher is better, like the RPS ratios).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peer_env
from common import (
    BENCH_DIR,
    BENCH_SERVICE,
    MESSAGE,
    PYTHON,
    ROOT,
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
    ratio_to,
    spread,
    verdict,
)

from hybrid_server.testing.process import ServerGroup

TARGET_AIO = 0.95  # grpcrunaioserver / raw grpc.aio, same loop, 64 in flight and 1 in flight (p50)
TARGET_THREADS = 0.90  # grpcrunserver / raw grpc.server(ThreadPoolExecutor(10)), def echo, 64 in flight
PEER = "django-socio-grpc 0.25"


@dataclass(frozen=True)
class Row:
    label: str
    server: str
    loop: str
    action: str
    start: Callable[[dict[str, str]], Server] | None  # None: same server as the row before
    raw: bool = False
    peer: bool = False


def _raw(*flags: str, label: str) -> Callable[[dict[str, str]], Server]:
    return lambda env: Server([PYTHON, str(BENCH_DIR / "raw_server.py"), "127.0.0.1:0", *flags], cwd=ROOT, env=env,
                              label=label)


def _ours(command: str, *flags: str, label: str) -> Callable[[dict[str, str]], Server]:
    return lambda env: Server.manage(command, "127.0.0.1:0", *flags, env=env, label=label)


def _peer(command: str, label: str) -> Callable[[dict[str, str]], Server]:
    return lambda env: peer_env.PeerServer(command, env=env, label=label)


def groups() -> dict[str, list[Row]]:
    return {
        "asyncio": [
            Row("raw-asyncio", "raw grpc.aio", "asyncio", "Echo", _raw(label="raw-asyncio"), raw=True),
            Row("aio-asyncio", "grpcrunaioserver", "asyncio", "Echo",
                _ours("grpcrunaioserver", "--loop", "asyncio", label="aio-asyncio")),
            Row("peer-aio", f"{PEER} grpcrunaioserver", "asyncio", "Echo", _peer("grpcrunaioserver", "peer-aio"),
                peer=True),
        ],
        "uvloop": [
            Row("raw-uvloop", "raw grpc.aio", "uvloop", "Echo", _raw("--uvloop", label="raw-uvloop"), raw=True),
            Row("aio-uvloop", "grpcrunaioserver", "uvloop", "Echo",
                _ours("grpcrunaioserver", "--loop", "uvloop", label="aio-uvloop")),
        ],
        "threads": [
            Row("raw-threads", "raw grpc.server(ThreadPoolExecutor(10))", "threads", "SyncEcho",
                _raw("--threads", label="raw-threads"), raw=True),
            Row("runserver-SyncEcho", "grpcrunserver", "threads", "SyncEcho",
                _ours("grpcrunserver", label="runserver")),
            Row("runserver-Echo", "grpcrunserver", "threads", "Echo", None),
        ],
    }


def _peer_runserver(ctx: Any, env: dict[str, str]) -> dict[str, Any] | None:
    """django-socio-grpc's grpcrunserver, started and called once per action: what fails."""
    with ServerGroup(ctx.log) as servers:
        server = servers.add(peer_env.PeerServer("grpcrunserver", env=env, label="peer-runserver"))
        failures = {action: peer_env.failure_of(server.grpc_target, action) for action in ("SyncEcho", "Echo")}
    ctx.log(f"  [unary] {PEER} grpcrunserver: {failures}")
    return failures


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    body = bench_request(message=MESSAGE)
    rows_out: list[dict[str, Any]] = []
    peer_python = peer_env.python(ctx.log)
    notes: dict[str, Any] = {"peer": PEER if peer_python else f"unavailable: {peer_env.unavailable_reason()}"}
    for group, rows in groups().items():
        rows = [row for row in rows if not row.peer or peer_python]
        if ctx.filter and not any(ctx.filter in row.label for row in rows if not row.raw):
            continue
        rows = [row for row in rows if row.raw or not ctx.filter or ctx.filter in row.label]
        reference = rows[0].label
        ctx.log(f"[unary] group {group}: {', '.join(row.label for row in rows)}")
        with ServerGroup(ctx.log) as servers:
            target: dict[str, tuple[Server, int]] = {}
            server: Server | None = None
            for row in rows:
                if row.start is not None:
                    server = servers.add(row.start(ctx.env))
                assert server is not None
                target[row.label] = (server, check_echo(server.grpc_target, row.action))
            actions = {row.label: row.action for row in rows}

            def one(label: str, index: int, inflight: int, duration: float,
                    target: dict[str, tuple[Server, int]] = target, actions: dict[str, str] = actions) -> dict[str, Any]:
                server, frame = target[label]
                before = cpu_seconds(server.pid)
                result = ctx.load.grpc(server.grpc_target, f"{BENCH_SERVICE}/{actions[label]}", body, frame,
                                       inflight, duration=duration)
                out = result.as_dict()
                out["server_cpu"] = round((cpu_seconds(server.pid) - before) / result.seconds, 3)
                out["inv_p50"] = 1 / result.p50_ms if result.p50_ms else None
                ctx.log(f"  {label} x{inflight} #{index + 1}: {result.rps:,.0f} rps, p50 {result.p50_ms:.3f} ms, "
                        f"p99 {result.p99_ms:.2f} ms, server cpu {out['server_cpu']:.0%}, load cpu {result.load_cpu:.0%}")
                return out

            for inflight, duration, rounds in ((64, s.unary_duration, s.unary_rounds),
                                               (1, s.latency_duration, s.latency_rounds)):
                for row in rows:  # warm-up
                    ctx.load.grpc(target[row.label][0].grpc_target, f"{BENCH_SERVICE}/{row.action}", body,
                                  target[row.label][1], inflight, duration=s.warmup)
                runs = interleave([row.label for row in rows], rounds,
                                  lambda label, index, inflight=inflight, duration=duration:
                                  one(label, index, inflight, duration), reference)
                # 64 in flight: throughput; 1 in flight: the lone call's latency (1 / p50).
                key = "rps" if inflight > 1 else "inv_p50"
                ref_values = [run[key] for run in runs[reference]]
                ref_cpu = [run["server_cpu"] for run in runs[reference]]
                peer_label = next((row.label for row in rows if row.peer), None)
                for row in rows:
                    values = [run[key] for run in runs[row.label]]
                    cpu = [run["server_cpu"] for run in runs[row.label]]
                    # At 1 in flight nothing saturates the server: no CPU filter.
                    ratios = None if row.raw else bracket_ratios(ref_values, values, *(
                        (ref_cpu, cpu) if inflight > 1 else (None, None)))
                    rps = [run["rps"] for run in runs[row.label]]
                    rows_out.append({
                        "group": group, "label": row.label, "server": row.server, "loop": row.loop,
                        "action": row.action, "inflight": inflight, "measure": key,
                        "rps": median(rps), "rps_spread": spread(rps),
                        "p50_ms": median(run["p50_ms"] for run in runs[row.label]),
                        "p99_ms": median(run["p99_ms"] for run in runs[row.label]),
                        "ratio": median(ratios) if ratios else None,
                        "ratios": [r if r is None else round(r, 4) for r in ratios] if ratios else None,
                        "peer_ratio": ratio_to(runs, row.label, peer_label, key)
                        if peer_label and not row.raw and not row.peer else None,
                        "reference": None if row.raw else rows[0].server,
                        "server_cpu": median(run["server_cpu"] for run in runs[row.label]),
                        "load_cpu": median(run["load_cpu"] for run in runs[row.label]),
                        "rss_mib": target[row.label][0].rss_kib() / 1024,
                        "runs": runs[row.label],
                    })
            for label, (server, _) in target.items():
                check_echo(server.grpc_target, actions[label])  # still correct after the load
        if group == "threads" and peer_python and not ctx.filter:
            notes["peer_runserver"] = _peer_runserver(ctx, ctx.env)
    if not rows_out:
        raise BenchError(f"no unary scenario matches {ctx.filter!r}")
    return {"rows": rows_out, "duration_s": s.unary_duration, "rounds": s.unary_rounds,
            "latency_duration_s": s.latency_duration, "latency_rounds": s.latency_rounds, "notes": notes}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| server | loop | action | in flight | RPS | spread | p50 ms | p99 ms | x raw (same loop) | x peer | "
        "server CPU | RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        ratio = fmt_ratio(row["ratio"], row["ratios"])
        if row["ratio"] is not None and row["inflight"] == 1:
            ratio += " (p50)"
        peer = "—" if row.get("peer_ratio") is None else f"{row['peer_ratio']:.2f}"
        lines.append(
            f"| {row['server']} | {row['loop']} | {row['action']} | {row['inflight']} | {fmt_num(row['rps'])} | "
            f"{fmt_pct(row['rps_spread'])} | {row['p50_ms']:.3f} | {row['p99_ms']:.2f} | {ratio} | {peer} | "
            f"{row['server_cpu']:.0%} | {row.get('rss_mib', 0):.1f} |"
        )
    failures = (result.get("notes") or {}).get("peer_runserver")
    if failures:
        lines.append("")
        lines.append(f"{PEER} `grpcrunserver` (thread pool), same project: every call fails — "
                     + "; ".join(f"{action} → {error or 'answered'}" for action, error in failures.items())
                     + " (its `context.trailing_metadata()` is None on sync grpc), so it has no figures.")
    peer = (result.get("notes") or {}).get("peer", "")
    if peer.startswith("unavailable"):
        lines.append("")
        lines.append(f"{PEER}: {peer}")
    return "\n".join(lines)


def _find(result: dict[str, Any], label: str, inflight: int) -> dict[str, Any] | None:
    return next((row for row in result["rows"] if row["label"] == label and row["inflight"] == inflight), None)


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for label, text in (("aio-asyncio", "asyncio"), ("aio-uvloop", "uvloop")):
        for inflight, what in ((64, "64 in flight (RPS)"), (1, "1 in flight (p50 latency)")):
            row = _find(result, label, inflight)
            if row is not None and row["ratio"] is not None:
                out.append({"goal": f"unary grpcrunaioserver / raw grpc.aio, {text}, {what} ≥ {TARGET_AIO:.2f}x",
                            "figure": f"{row['ratio']:.3f}x", "met": row["ratio"] >= TARGET_AIO})
    row = _find(result, "runserver-SyncEcho", 64)
    if row is not None and row["ratio"] is not None:
        out.append({"goal": f"unary grpcrunserver / raw grpc.server(ThreadPoolExecutor(10)), def echo, 64 in flight "
                            f"≥ {TARGET_THREADS:.2f}x", "figure": f"{row['ratio']:.3f}x",
                    "met": row["ratio"] >= TARGET_THREADS})
    return out


def headline(result: dict[str, Any]) -> str:
    return "; ".join(f"{goal['goal']}: {goal['figure']} ({verdict(goal['met'])})" for goal in goals(result)) or (
        "not measured")
