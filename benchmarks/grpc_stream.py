"""Section 2: server-streaming throughput, BenchServiceController.Stream(count=N).

Raw grpc.aio (an async-generator handler) and grpcrunaioserver on the same loop (uvloop, the
default), side by side on SERVER_CPU, interleaved raw/ours with a closing raw run. One run =
`stream_calls` sequential calls (one in flight) of `stream_count` messages each; messages/s =
messages / the calls' summed latency. Every run checks the DATA bytes received equal the exact
size of the N framed messages.
"""
from __future__ import annotations

from typing import Any

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
    cpu_seconds,
    fmt_num,
    fmt_pct,
    fmt_ratio,
    grpc_frame,
    interleave,
    median,
    pb2,
    spread,
)

from hybrid_server.testing.process import ServerGroup


def expected_bytes(count: int) -> int:
    message = pb2().BenchMessage
    return sum(len(grpc_frame(message(message=MESSAGE, count=i).SerializeToString())) for i in range(count))


def check_stream(target: str, count: int) -> None:
    import grpc
    from testapp.grpc import testapp_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
        stub = testapp_pb2_grpc.BenchServiceControllerStub(channel)
        answers = list(stub.Stream(pb2().BenchMessage(message=MESSAGE, count=count), timeout=30))
    if [(a.message, a.count) for a in answers] != [(MESSAGE, i) for i in range(count)]:
        raise BenchError(f"Stream on {target} answered {len(answers)} wrong messages")


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    count, calls = s.stream_count, s.stream_calls
    body = bench_request(message=MESSAGE, count=count)
    frame_bytes = expected_bytes(count)
    loop = "uvloop"
    with ServerGroup(ctx.log) as servers:
        raw = servers.add(Server([PYTHON, str(BENCH_DIR / "raw_server.py"), "127.0.0.1:0", "--uvloop"], cwd=ROOT,
                                 env=ctx.env, label="raw grpc.aio"))
        ours = servers.add(Server.manage("grpcrunaioserver", "127.0.0.1:0", "--loop", loop, env=ctx.env,
                                         label="grpcrunaioserver"))
        by_label = {"raw grpc.aio": raw, "grpcrunaioserver": ours}
        for server in by_label.values():
            check_stream(server.grpc_target, 100)

        def one(label: str, index: int, n_calls: int = calls) -> dict[str, Any]:
            server = by_label[label]
            before = cpu_seconds(server.pid)
            result = ctx.load.grpc(server.grpc_target, f"{BENCH_SERVICE}/Stream", body, frame_bytes, 1,
                                   count=n_calls, stream=True)
            seconds = result.total_ms / 1000
            out = {"messages": result.calls * count, "seconds": round(seconds, 4),
                   "messages_per_s": result.calls * count / seconds,
                   "server_cpu": round((cpu_seconds(server.pid) - before) / result.seconds, 3),
                   "load_cpu": round(result.load_cpu, 3)}
            ctx.log(f"  [stream] {label} #{index + 1}: {out['messages_per_s']:,.0f} msg/s "
                    f"({out['messages']} in {seconds:.2f} s), server cpu {out['server_cpu']:.0%}, "
                    f"load cpu {out['load_cpu']:.0%}")
            return out

        for label in by_label:  # warm-up
            one(label, -1, 1)
        runs = interleave(list(by_label), s.stream_rounds, one, "raw grpc.aio")
    raw_rate = [run["messages_per_s"] for run in runs["raw grpc.aio"]]
    ours_rate = [run["messages_per_s"] for run in runs["grpcrunaioserver"]]
    ratios = bracket_ratios(raw_rate, ours_rate, [run["server_cpu"] for run in runs["raw grpc.aio"]],
                            [run["server_cpu"] for run in runs["grpcrunaioserver"]])
    rows = []
    for label, rates in (("raw grpc.aio", raw_rate), ("grpcrunaioserver", ours_rate)):
        rows.append({"server": label, "loop": loop, "messages_per_s": median(rates), "spread": spread(rates),
                     "ratio": None if label == "raw grpc.aio" else median(ratios),
                     "ratios": None if label == "raw grpc.aio" else [r if r is None else round(r, 4) for r in ratios],
                     "server_cpu": median(run["server_cpu"] for run in runs[label]), "runs": runs[label]})
    return {"count": count, "calls_per_run": calls, "rounds": s.stream_rounds, "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| server | loop | messages/s | spread | x raw | server CPU |", "|---|---|---:|---:|---:|---:|"]
    for row in result["rows"]:
        ratio = fmt_ratio(row["ratio"], row["ratios"])
        lines.append(f"| {row['server']} | {row['loop']} | {fmt_num(row['messages_per_s'])} | "
                     f"{fmt_pct(row['spread'])} | {ratio} | {row['server_cpu']:.0%} |")
    return "\n".join(lines)
