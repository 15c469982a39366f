"""Section 4: blocking sync work. 8 concurrent BenchServiceController.Block(seconds=0.5).

For --max-workers 1, 4, 8 on grpcrunaioserver and grpcrunserver (server on SERVER_CPU): the
wall time from sending the 8 calls (at once, over one ready channel, from 8 client threads)
to the last answer. Ideal: ceil(8 / workers) x 0.5 s.
"""
from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import BenchError, Server, check_echo, median, pb2, verdict

from hybrid_server.testing.process import ServerGroup

CALLS = 8
SECONDS = 0.5
TARGET = 0.7  # s, with 8 workers


def burst(target: str) -> float:
    import grpc
    from testapp.grpc import testapp_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
        stub = testapp_pb2_grpc.BenchServiceControllerStub(channel)
        request = pb2().BenchMessage(seconds=SECONDS)
        barrier = threading.Barrier(CALLS + 1)

        def call() -> str:
            barrier.wait(10)
            return stub.Block(request, timeout=60).message

        with ThreadPoolExecutor(CALLS) as pool:
            futures = [pool.submit(call) for _ in range(CALLS)]
            barrier.wait(10)
            started = time.perf_counter()
            answers = [future.result(timeout=90) for future in futures]
            wall = time.perf_counter() - started
    if answers != ["done"] * CALLS:
        raise BenchError(f"Block answered {answers}")
    return wall


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    rows = []
    for command in ("grpcrunaioserver", "grpcrunserver"):
        for workers in s.block_workers:
            with ServerGroup(ctx.log) as servers:
                server = servers.add(Server.manage(command, "127.0.0.1:0", "--max-workers", str(workers),
                                                   env=ctx.env, label=f"{command} --max-workers {workers}"))
                check_echo(server.grpc_target)
                walls = []
                for index in range(s.block_runs):
                    walls.append(burst(server.grpc_target))
                    ctx.log(f"  [blocking] {command} --max-workers {workers} #{index + 1}: {walls[-1]:.3f} s")
            rows.append({"server": command, "max_workers": workers, "wall_s": median(walls),
                         "ideal_s": math.ceil(CALLS / workers) * SECONDS, "runs": [round(w, 4) for w in walls]})
    return {"calls": CALLS, "seconds": SECONDS, "runs": s.block_runs, "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| server | --max-workers | wall s (8 x Block 0.5 s) | ideal s | max of runs |", "|---|---:|---:|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| {row['server']} | {row['max_workers']} | {row['wall_s']:.3f} | {row['ideal_s']:.1f} | "
                     f"{max(row['runs']):.3f} |")
    return "\n".join(lines)


def headline(result: dict[str, Any]) -> str:
    parts = [f"{row['server']} {row['wall_s']:.3f} s ({verdict(row['wall_s'] <= TARGET)} ≤ {TARGET} s)"
             for row in result["rows"] if row["max_workers"] == 8]
    return "8 x Block(0.5 s) with --max-workers 8: " + ("; ".join(parts) or "not measured")


