"""Section 10: cost as the work grows: ours and the peer against raw grpc.aio, on asyncio.

Three servers side by side on SERVER_CPU, all on the asyncio loop (django-socio-grpc runs
only there): raw grpc.aio, grpcrunaioserver --loop asyncio, django-socio-grpc 0.25's
grpcrunaioserver. Interleaved [raw, ours, peer] rounds with a closing raw run, for:
  unary Echo("hello") at 1, 64 (one connection) and 256 in flight (4 connections of 64);
  unary Echo with a 100 B, 16 KiB and 1 MiB message, 64 in flight (16 for 1 MiB);
  streams of `scale_stream_count` messages: server, client and bidirectional (one call per run).
The ratio to raw for each, to see whether the per-call overhead stays a constant (ratios that
rise as the work per call grows) or grows with the work; VmRSS of each server at the end.
"""
from __future__ import annotations

from typing import Any

import grpc_stream
import peer_env
from common import (
    BENCH_DIR,
    BENCH_SERVICE,
    PYTHON,
    ROOT,
    Server,
    bench_request,
    bracket_ratios,
    check_echo,
    cpu_seconds,
    fmt_num,
    fmt_ratio,
    grpc_frame,
    interleave,
    median,
    pb2,
    ratio_to,
)

from hybrid_server.testing.process import ServerGroup

RAW, OURS, PEER = grpc_stream.RAW, grpc_stream.OURS, grpc_stream.PEER
SIZES = {"100 B": 100, "16 KiB": 16 * 1024, "1 MiB": 1024 * 1024}


def _unary_cases() -> list[dict[str, Any]]:
    # Our server advertises 100 concurrent streams per connection (a bound of the engine), so
    # 256 in flight go over 4 connections of 64 (4 channels), for every server alike.
    cases = [{"case": f"unary, {n} in flight" + (" (4 connections)" if n > 64 else ""), "message": "hello",
              "inflight": n, "conns": 4 if n > 64 else 1} for n in (1, 64, 256)]
    for name, size in SIZES.items():
        inflight = 16 if size > 65536 else 64
        cases.append({"case": f"unary, {name} message, {inflight} in flight", "message": "x" * size,
                      "inflight": inflight, "conns": 1})
    return cases


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    peer_python = peer_env.python(ctx.log)
    rows: list[dict[str, Any]] = []
    with ServerGroup(ctx.log) as group:
        servers = {
            RAW: group.add(Server([PYTHON, str(BENCH_DIR / "raw_server.py"), "127.0.0.1:0"], cwd=ROOT, env=ctx.env,
                                  label="raw grpc.aio asyncio")),
            OURS: group.add(Server.manage("grpcrunaioserver", "127.0.0.1:0", "--loop", "asyncio", env=ctx.env,
                                          label="grpcrunaioserver asyncio")),
        }
        if peer_python is not None:
            servers[PEER] = group.add(peer_env.PeerServer("grpcrunaioserver", env=ctx.env, label="peer"))
        peer = PEER if PEER in servers else None
        for case in _unary_cases():
            body = bench_request(message=case["message"])
            frame = len(grpc_frame(pb2().BenchMessage(message=case["message"]).SerializeToString()))
            for server in servers.values():
                check_echo(server.grpc_target)
            inflight = case["inflight"]

            def one(label: str, index: int, duration: float = s.scale_duration, body: bytes = body, frame: int = frame,
                    inflight: int = inflight, case: dict[str, Any] = case) -> dict[str, Any]:
                server = servers[label]
                before = cpu_seconds(server.pid)
                if len(body) > 65536:  # a fixed count: a deadline would cut answers of 1 MiB in half
                    result = ctx.load.grpc(server.grpc_target, f"{BENCH_SERVICE}/Echo", body, frame, inflight,
                                           count=max(inflight * 2, round(duration * 200)), conns=case["conns"])
                else:
                    result = ctx.load.grpc(server.grpc_target, f"{BENCH_SERVICE}/Echo", body, frame, inflight,
                                           duration=duration, conns=case["conns"])
                out = result.as_dict()
                out["server_cpu"] = round((cpu_seconds(server.pid) - before) / result.seconds, 3)
                out["inv_p50"] = 1 / result.p50_ms if result.p50_ms else None
                ctx.log(f"  [scale] {case['case']}: {label} #{index + 1}: {result.rps:,.0f} rps, "
                        f"p50 {result.p50_ms:.3f} ms, server cpu {out['server_cpu']:.0%}")
                return out

            for label in servers:
                one(label, -1, s.warmup)
            runs = interleave(list(servers), s.scale_rounds, one, RAW)
            key = "rps" if inflight > 1 else "inv_p50"
            ref = [run[key] for run in runs[RAW]]
            ref_cpu = [run["server_cpu"] for run in runs[RAW]]
            for label in servers:
                values = [run[key] for run in runs[label]]
                ratios = None if label == RAW else bracket_ratios(ref, values, *(
                    (ref_cpu, [run["server_cpu"] for run in runs[label]]) if inflight > 1 else (None, None)))
                rows.append({"case": case["case"], "server": label, "inflight": inflight, "unit": "calls/s",
                             "rate": median(run["rps"] for run in runs[label]),
                             "p50_ms": median(run["p50_ms"] for run in runs[label]),
                             "ratio": median(ratios) if ratios else None,
                             "ratios": [r if r is None else round(r, 4) for r in ratios] if ratios else None,
                             "peer_ratio": ratio_to(runs, label, peer, key) if peer and label == OURS else None,
                             "server_cpu": median(run["server_cpu"] for run in runs[label]), "runs": runs[label]})
        kinds = list(grpc_stream.KINDS) if ctx.load.name == "h2load" else ["server"]
        for kind in kinds:
            for server in servers.values():
                grpc_stream.check_stream(server.grpc_target, kind)
            for row in grpc_stream.measure(ctx, servers, RAW, kind, s.scale_stream_count, 1, s.scale_rounds,
                                           tag="scale", peer=peer):
                rows.append({"case": f"{grpc_stream.KIND_NAMES[kind]}, {s.scale_stream_count:,} messages",
                             "server": row["server"], "inflight": 1, "unit": "messages/s",
                             "rate": row["messages_per_s"], "p50_ms": None, "ratio": row["ratio"],
                             "ratios": row["ratios"], "peer_ratio": row["peer_ratio"] if row["server"] == OURS else None,
                             "server_cpu": row["server_cpu"], "runs": row["runs"]})
        rss = {label: server.rss_kib() / 1024 for label, server in servers.items()}
    return {"rounds": s.scale_rounds, "duration_s": s.scale_duration, "stream_count": s.scale_stream_count,
            "rows": rows, "rss_end_mib": rss, "peer": None if peer else peer_env.unavailable_reason()}


def markdown(result: dict[str, Any]) -> str:
    servers = [RAW, OURS, PEER]
    present = [name for name in servers if any(row["server"] == name for row in result["rows"])]
    lines = ["All on the asyncio loop; ratios are to raw grpc.aio (1 in flight: p50 latency, raw / ours).", "",
             "| work | unit | raw grpc.aio | grpcrunaioserver | x raw | "
             + ("django-socio-grpc 0.25 | x raw | ours x peer |" if PEER in present else ""),
             "|---|---|---:|---:|---:|" + ("---:|---:|---:|" if PEER in present else "")]
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    for row in result["rows"]:
        cases.setdefault(row["case"], {})[row["server"]] = row
    for case, by_server in cases.items():
        raw, ours = by_server.get(RAW), by_server.get(OURS)
        cells = [case, raw["unit"] if raw else "", fmt_num(raw["rate"]) if raw else "—",
                 fmt_num(ours["rate"]) if ours else "—", fmt_ratio(ours["ratio"], ours["ratios"]) if ours else "—"]
        if PEER in present:
            peer = by_server.get(PEER)
            cells += [fmt_num(peer["rate"]) if peer else "—", fmt_ratio(peer["ratio"], peer["ratios"]) if peer else "—",
                      f"{ours['peer_ratio']:.2f}" if ours and ours.get("peer_ratio") else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    rss = result.get("rss_end_mib") or {}
    lines += ["", "RSS at the end of the section: " + ", ".join(f"{name} {value:.1f} MiB" for name, value in rss.items())]
    if result.get("peer"):
        lines += ["", f"django-socio-grpc 0.25 unavailable: {result['peer']}"]
    return "\n".join(lines)


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    ours = [row for row in result["rows"] if row["server"] == OURS and row["ratio"] is not None]
    if not ours:
        return []
    low = min(ours, key=lambda row: row["ratio"])
    return [{"goal": "cost as work grows: lowest grpcrunaioserver / raw ratio over the cases (no target; see section 10)",
             "figure": f"{low['ratio']:.2f}x ({low['case']})", "met": None}]


def headline(result: dict[str, Any]) -> str:
    goal = goals(result)
    return goal[0]["goal"] + ": " + goal[0]["figure"] if goal else "not measured"


