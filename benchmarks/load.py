"""A Python grpc.aio load generator: N unary calls in flight for D seconds.

    python benchmarks/load.py 127.0.0.1:PORT /pkg.Service/Method --body-hex HEX \
        --inflight 64 --duration 3 [--warmup 1] [--procs 1]

Sends a pre-serialized request (bytes in, bytes out: no protobuf cost on the client),
keeps `--inflight` calls outstanding over one channel per process, and prints one JSON
object: calls, errors, rps, p50_ms, p99_ms. Only calls that start after the warm-up and
end before the deadline count. `--procs` splits the in-flight calls over processes (each
with its own channel); they inherit the CPU affinity of the caller (`taskset -c 1 ...`).

The benchmark prefers h2load (C, much cheaper per call); this is the fallback and a
cross-check of it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time

MAX_CALLS_PER_WORKER = 5_000_000  # every loop bounded in count as well as in time
CALL_TIMEOUT = 10.0


async def _drive(target: str, method: str, body: bytes, inflight: int, warmup: float, duration: float) -> dict:
    import grpc

    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.wait_for(channel.channel_ready(), 10)
        call = channel.unary_unary(method)  # no serializers: bytes in, bytes out
        start = time.perf_counter()
        measure_from = start + warmup
        deadline = measure_from + duration

        async def worker() -> None:
            nonlocal errors
            for _ in range(MAX_CALLS_PER_WORKER):
                began = time.perf_counter()
                if began >= deadline:
                    return
                try:
                    await call(body, timeout=CALL_TIMEOUT)
                except grpc.aio.AioRpcError:
                    ended = time.perf_counter()
                    if began >= measure_from and ended <= deadline:
                        errors += 1
                    continue
                ended = time.perf_counter()
                if began >= measure_from and ended <= deadline:
                    latencies.append(ended - began)

        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(inflight))), warmup + duration + CALL_TIMEOUT + 5
        )
    return {"latencies": latencies, "errors": errors}


def _process(args: tuple[str, str, bytes, int, float, float, bool]) -> dict:
    target, method, body, inflight, warmup, duration, use_uvloop = args
    coro = _drive(target, method, body, inflight, warmup, duration)
    if use_uvloop:
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def run_load(target: str, method: str, body: bytes, inflight: int, duration: float, warmup: float = 1.0,
             procs: int = 1, use_uvloop: bool = False) -> dict:
    procs = max(1, min(procs, inflight))
    shares = [inflight // procs + (1 if i < inflight % procs else 0) for i in range(procs)]
    jobs = [(target, method, body, share, warmup, duration, use_uvloop) for share in shares]
    if procs == 1:
        parts = [_process(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            parts = pool.map_async(_process, jobs).get(warmup + duration + 60)
    latencies = sorted(value for part in parts for value in part["latencies"])
    errors = sum(part["errors"] for part in parts)
    return {
        "calls": len(latencies),
        "errors": errors,
        "rps": len(latencies) / duration,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("method", help="/package.Service/Method")
    parser.add_argument("--body-hex", required=True, help="the serialized request message, hex")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    result = run_load(args.target, args.method, bytes.fromhex(args.body_hex), args.inflight, args.duration,
                      args.warmup, args.procs, args.uvloop)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
