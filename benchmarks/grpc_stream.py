"""Section 2: streaming throughput (messages/s): server, client and bidirectional streams.

  server: Stream(count=N) answers N messages          client: Collect reads N messages, answers 1
  bidi:   Bidi echoes each of the N messages it reads (h2load sends the N frames as one body
          while it reads the answers: a streaming exchange, not ping-pong)
Two groups, each side by side on SERVER_CPU, interleaved [raw, ours, (peer)] with a closing
raw run: uvloop (raw grpc.aio, grpcrunaioserver --loop uvloop) and asyncio (raw grpc.aio,
grpcrunaioserver --loop asyncio, django-socio-grpc 0.25's grpcrunaioserver). One run =
`stream_calls` sequential calls (one in flight) of `stream_count` messages; messages/s =
messages / the calls' summed latency. Every run checks that the DATA bytes received are
exactly the framed answer.
"""
from __future__ import annotations

from typing import Any

import peer_env
from common import (
    BENCH_DIR,
    BENCH_SERVICE,
    MESSAGE,
    PYTHON,
    ROOT,
    BenchError,
    Framed,
    Server,
    bracket_ratios,
    cpu_seconds,
    fmt_num,
    fmt_pct,
    fmt_ratio,
    grpc_frame,
    interleave,
    median,
    pb2,
    ratio_to,
    spread,
    verdict,
)

from hybrid_server.testing.process import ServerGroup

TARGET = 0.95  # server streaming, ours / raw
KINDS = {"server": "Stream", "client": "Collect", "bidi": "Bidi"}
RAW, OURS, PEER = "raw grpc.aio", "grpcrunaioserver", "django-socio-grpc 0.25 grpcrunaioserver"


def _messages(count: int) -> list[bytes]:
    message = pb2().BenchMessage
    return [message(message=MESSAGE, count=i).SerializeToString() for i in range(count)]


def load_for(kind: str, count: int) -> tuple[bytes, int]:
    """(request body, DATA bytes one call must answer) for `count` messages."""
    message = pb2().BenchMessage
    stream_bytes = sum(len(grpc_frame(m)) for m in _messages(count))
    if kind == "server":
        return message(message=MESSAGE, count=count).SerializeToString(), stream_bytes
    body = Framed(b"".join(grpc_frame(m) for m in _messages(count)))
    if kind == "client":
        return body, len(grpc_frame(message(message="collected", count=count).SerializeToString()))
    return body, stream_bytes


def check_stream(target: str, kind: str, count: int = 100) -> None:
    """A real stub call of each kind: the exact answer."""
    import grpc
    from testapp.grpc import testapp_pb2_grpc

    message = pb2().BenchMessage
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
        stub = testapp_pb2_grpc.BenchServiceControllerStub(channel)
        requests = [message(message=MESSAGE, count=i) for i in range(count)]
        if kind == "server":
            answers = [(a.message, a.count) for a in stub.Stream(message(message=MESSAGE, count=count), timeout=30)]
            expected: Any = [(MESSAGE, i) for i in range(count)]
        elif kind == "client":
            reply = stub.Collect(iter(requests), timeout=30)
            answers, expected = (reply.message, reply.count), ("collected", count)
        else:
            answers = [(a.message, a.count) for a in stub.Bidi(iter(requests), timeout=30)]
            expected = [(MESSAGE, i) for i in range(count)]
    if answers != expected:
        raise BenchError(f"{KINDS[kind]} on {target} answered wrongly ({str(answers)[:200]})")


def measure(ctx: Any, servers: dict[str, Server], reference: str, kind: str, count: int, calls: int, rounds: int,
            tag: str = "stream", peer: str | None = None) -> list[dict[str, Any]]:
    """Interleaved runs of one stream kind on servers already started; one row per server."""
    body, answer_bytes = load_for(kind, count)
    method = f"{BENCH_SERVICE}/{KINDS[kind]}"

    def one(label: str, index: int, n_calls: int = calls) -> dict[str, Any]:
        server = servers[label]
        before = cpu_seconds(server.pid)
        result = ctx.load.grpc(server.grpc_target, method, body, answer_bytes, 1, count=n_calls, stream=True)
        seconds = result.total_ms / 1000
        out = {"messages": result.calls * count, "seconds": round(seconds, 4),
               "messages_per_s": result.calls * count / seconds,
               "server_cpu": round((cpu_seconds(server.pid) - before) / result.seconds, 3),
               "load_cpu": round(result.load_cpu, 3)}
        ctx.log(f"  [{tag} {kind}] {label} #{index + 1}: {out['messages_per_s']:,.0f} msg/s "
                f"({out['messages']} in {seconds:.2f} s), server cpu {out['server_cpu']:.0%}, "
                f"load cpu {out['load_cpu']:.0%}")
        return out

    for label in servers:  # warm-up
        one(label, -1, 1)
    runs = interleave(list(servers), rounds, one, reference)
    ref_rate = [run["messages_per_s"] for run in runs[reference]]
    ref_cpu = [run["server_cpu"] for run in runs[reference]]
    rows = []
    for label in servers:
        rates = [run["messages_per_s"] for run in runs[label]]
        ratios = None if label == reference else bracket_ratios(
            ref_rate, rates, ref_cpu, [run["server_cpu"] for run in runs[label]])
        rows.append({"server": label, "kind": kind, "messages": count, "messages_per_s": median(rates),
                     "spread": spread(rates), "ratio": median(ratios) if ratios else None,
                     "ratios": [r if r is None else round(r, 4) for r in ratios] if ratios else None,
                     "peer_ratio": ratio_to(runs, label, peer, "messages_per_s")
                     if peer and label not in (reference, peer) else None,
                     "server_cpu": median(run["server_cpu"] for run in runs[label]), "runs": runs[label]})
    return rows


def _servers(ctx: Any, group: ServerGroup, loop: str, with_peer: bool) -> dict[str, Server]:
    raw_flags = ["--uvloop"] if loop == "uvloop" else []
    out = {
        RAW: group.add(Server([PYTHON, str(BENCH_DIR / "raw_server.py"), "127.0.0.1:0", *raw_flags], cwd=ROOT,
                              env=ctx.env, label=f"raw grpc.aio {loop}")),
        OURS: group.add(Server.manage("grpcrunaioserver", "127.0.0.1:0", "--loop", loop, env=ctx.env,
                                      label=f"grpcrunaioserver {loop}")),
    }
    if with_peer:
        out[PEER] = group.add(peer_env.PeerServer("grpcrunaioserver", env=ctx.env, label="peer"))
    return out


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    peer_python = peer_env.python(ctx.log)
    kinds = [kind for kind in KINDS if not ctx.filter or ctx.filter in kind]
    if ctx.load.name != "h2load":
        kinds = [kind for kind in kinds if kind == "server"]
        ctx.log("  [stream] client and bidi streams need h2load: only server streaming measured")
    rows: list[dict[str, Any]] = []
    for loop in ("uvloop", "asyncio"):
        with ServerGroup(ctx.log) as group:
            servers = _servers(ctx, group, loop, with_peer=loop == "asyncio" and peer_python is not None)
            for kind in kinds:
                for server in servers.values():
                    check_stream(server.grpc_target, kind)
                for row in measure(ctx, servers, RAW, kind, s.stream_count, s.stream_calls, s.stream_rounds,
                                   peer=PEER if PEER in servers else None):
                    row["loop"] = loop
                    rows.append(row)
            for label, server in servers.items():
                for row in rows:
                    if row["loop"] == loop and row["server"] == label:
                        row["rss_mib"] = server.rss_kib() / 1024
    return {"count": s.stream_count, "calls_per_run": s.stream_calls, "rounds": s.stream_rounds, "rows": rows,
            "peer": None if peer_python else peer_env.unavailable_reason()}


KIND_NAMES = {"server": "server streaming (Stream)", "client": "client streaming (Collect)",
              "bidi": "bidirectional (Bidi)"}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"{result['count']:,} messages per call, {result['calls_per_run']} call(s) per run, one call in flight.",
             "", "| stream | server | loop | messages/s | spread | x raw (same loop) | x peer | server CPU |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        peer = "—" if row.get("peer_ratio") is None else f"{row['peer_ratio']:.2f}"
        lines.append(f"| {KIND_NAMES[row['kind']]} | {row['server']} | {row['loop']} | {fmt_num(row['messages_per_s'])} | "
                     f"{fmt_pct(row['spread'])} | {fmt_ratio(row['ratio'], row['ratios'])} | {peer} | "
                     f"{row['server_cpu']:.0%} |")
    if result.get("peer"):
        lines += ["", f"django-socio-grpc 0.25 unavailable: {result['peer']}"]
    return "\n".join(lines)


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in result["rows"]:
        if row["server"] == OURS and row["ratio"] is not None:
            target = TARGET if row["kind"] == "server" else None
            out.append({"goal": f"{KIND_NAMES[row['kind']]} grpcrunaioserver / raw, {row['loop']}"
                                + (f" ≥ {target:.2f}x" if target else " (no target)"),
                        "figure": f"{row['ratio']:.3f}x", "met": row["ratio"] >= target if target else None})
    return out


def headline(result: dict[str, Any]) -> str:
    parts = [f"{goal['goal']}: {goal['figure']}" + (f" ({verdict(goal['met'])})" if goal["met"] is not None else "")
             for goal in goals(result)]
    return "; ".join(parts) or "not measured"

