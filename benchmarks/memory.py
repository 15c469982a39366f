"""Section 8: memory over sustained RPCs (was a test; a figure, not an assertion).

grpcrunaioserver and grpcrunserver (--max-workers 8, server on SERVER_CPU) answer a warm-up of
`memory_warmup` RPCs, then `memory_calls` more, from a grpc.aio client in this process (32 in
flight, on LOAD_CPU): mostly ProbeService.Echo, every 10th SyncEcho (a `def` action), every
500th DbAsync (an ORM write and count). Reported: the server's RSS after the warm-up and at
the end, and the growth between them; every answer is checked.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from common import BenchError, Server, verdict

from hybrid_server.testing.process import ServerGroup

IN_FLIGHT = 32
TARGET = 0.10  # growth after the warm-up


async def hammer(target: str, total: int, offset: int, tag: str) -> dict[str, int]:
    """`total` RPCs, IN_FLIGHT at a time; raises BenchError on any wrong answer. DbAsync names
    start with `tag` (unique per server: the database outlives the server)."""
    import grpc
    from testapp.grpc import testapp_pb2, testapp_pb2_grpc

    counts = {"Echo": 0, "SyncEcho": 0, "DbAsync": 0}
    indexes = iter(range(offset, offset + total))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = testapp_pb2_grpc.ProbeServiceControllerStub(channel)

        async def worker() -> None:
            for index in indexes:
                if index % 500 == 0:
                    action, request = "DbAsync", testapp_pb2.ProbeMessage(message=f"{tag}-{index}")
                    expected = (f"{tag}-{index}", 1)
                else:
                    action = "SyncEcho" if index % 10 == 0 else "Echo"
                    request = testapp_pb2.ProbeMessage(message=f"m{index}", count=index)
                    expected = (f"m{index}", index)
                reply = await getattr(stub, action)(request, timeout=30)
                if (reply.message, reply.count) != expected:
                    raise BenchError(f"{action} answered {reply!r}, expected {expected}")
                counts[action] += 1

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return counts


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    rows = []
    for command in ("grpcrunaioserver", "grpcrunserver"):
        with ServerGroup(ctx.log) as servers:
            server = servers.add(Server.manage(command, "127.0.0.1:0", "--max-workers", "8", env=ctx.env, label=command))
            tag = f"memory-{command}-{time.time_ns()}"
            start_kib = server.rss_kib()
            asyncio.run(hammer(server.grpc_target, s.memory_warmup, 0, tag))
            warm_kib = server.rss_kib()
            counts = asyncio.run(hammer(server.grpc_target, s.memory_calls, s.memory_warmup, tag))
            end_kib = server.rss_kib()
            if server.returncode is not None:
                raise BenchError(f"{command} exited ({server.returncode}) under load:\n{server.tail()}")
        growth = (end_kib - warm_kib) / warm_kib
        ctx.log(f"  [memory] {command}: RSS {start_kib / 1024:.1f} MiB at start, {warm_kib / 1024:.1f} MiB after "
                f"{s.memory_warmup:,} RPCs, {end_kib / 1024:.1f} MiB after {s.memory_warmup + s.memory_calls:,} "
                f"({growth:+.1%}); {counts}")
        rows.append({"server": command, "rss_start_mib": start_kib / 1024, "rss_warm_mib": warm_kib / 1024,
                     "rss_end_mib": end_kib / 1024, "growth": growth, "counts": counts})
    return {"warmup": s.memory_warmup, "calls": s.memory_calls, "in_flight": IN_FLIGHT, "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    total = result["warmup"] + result["calls"]
    lines = [f"| server | RSS at start MiB | after {result['warmup']:,} RPCs | after {total:,} RPCs | growth |",
             "|---|---:|---:|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| {row['server']} | {row['rss_start_mib']:.1f} | {row['rss_warm_mib']:.1f} | "
                     f"{row['rss_end_mib']:.1f} | {row['growth']:+.1%} |")
    return "\n".join(lines)


def headline(result: dict[str, Any]) -> str:
    parts = [f"{row['server']} {row['growth']:+.1%} ({verdict(row['growth'] < TARGET)} < {TARGET:.0%})"
             for row in result["rows"]]
    return f"RSS growth after the warm-up over {result['calls']:,} more RPCs: " + "; ".join(parts)
