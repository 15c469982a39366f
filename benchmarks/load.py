"""A Python load generator (the fallback when h2load is not installed).

    python benchmarks/load.py 127.0.0.1:PORT /pkg.Service/Method --body-hex HEX \
        [--inflight 64] [--conns 1] (--duration 3 | --count N) [--warmup 1] [--stream]
    python benchmarks/load.py http://127.0.0.1:PORT/hello/ --http [--inflight 32] (--duration 3 | --count N)

gRPC: sends a pre-serialized request (bytes in, bytes out: no protobuf cost on the client),
keeps `--inflight` calls outstanding over `--conns` channels; `--stream` reads a
server-streaming answer to its end. HTTP: `--inflight` keep-alive HTTP/1.1 connections, one
GET outstanding on each. Prints one JSON object: calls, errors, seconds, rps, p50_ms, p99_ms,
total_ms. With `--duration`, only calls that start after the warm-up and end before the
deadline count; with `--count`, exactly that many calls are made. Every loop is bounded in
time and count.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

MAX_CALLS_PER_WORKER = 5_000_000
CALL_TIMEOUT = 30.0
HARD_LIMIT = 600.0  # seconds, whatever the options


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


class Budget:
    """Shared call budget: a deadline (duration) or a count."""

    def __init__(self, warmup: float, duration: float | None, count: int | None) -> None:
        self.start = time.perf_counter()
        self.measure_from = self.start + (warmup if duration is not None else 0)
        self.deadline = self.measure_from + duration if duration is not None else self.start + HARD_LIMIT
        self.left = count if count is not None else MAX_CALLS_PER_WORKER * 1000
        self.latencies: list[float] = []
        self.errors = 0

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1
        return True

    def record(self, began: float, ok: bool) -> None:
        ended = time.perf_counter()
        if began >= self.measure_from and ended <= self.deadline:
            if ok:
                self.latencies.append(ended - began)
            else:
                self.errors += 1


async def drive_grpc(target: str, method: str, body: bytes, inflight: int, conns: int, budget: Budget,
                     stream: bool) -> None:
    import grpc

    channels = [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(conns)]
    try:
        for channel in channels:
            await asyncio.wait_for(channel.channel_ready(), 10)
        calls = [channel.unary_stream(method) if stream else channel.unary_unary(method) for channel in channels]
        budget.start = time.perf_counter()

        async def worker(call) -> None:
            for _ in range(MAX_CALLS_PER_WORKER):
                if not budget.take():
                    return
                began = time.perf_counter()
                try:
                    if stream:
                        async for _message in call(body, timeout=CALL_TIMEOUT):
                            pass
                    else:
                        await call(body, timeout=CALL_TIMEOUT)
                except grpc.aio.AioRpcError:
                    budget.record(began, False)
                    continue
                budget.record(began, True)

        await asyncio.wait_for(asyncio.gather(*(worker(calls[i % conns]) for i in range(inflight))),
                               min(HARD_LIMIT, budget.deadline - time.perf_counter() + CALL_TIMEOUT + 5))
    finally:
        for channel in channels:
            await channel.close()


async def drive_http(url: str, conns: int, budget: Budget) -> None:
    parts = urlsplit(url)
    request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n\r\n").encode()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            for _ in range(MAX_CALLS_PER_WORKER):
                if not budget.take():
                    return
                began = time.perf_counter()
                writer.write(request)
                status = await asyncio.wait_for(reader.readline(), CALL_TIMEOUT)
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                budget.record(began, status.split(b" ")[1:2] == [b"200"])
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(conns))),
                           min(HARD_LIMIT, budget.deadline - time.perf_counter() + CALL_TIMEOUT + 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT (gRPC) or a URL (--http)")
    parser.add_argument("method", nargs="?", help="/package.Service/Method (gRPC)")
    parser.add_argument("--body-hex", default="", help="the serialized request message, hex")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--count", type=int)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--stream", action="store_true", help="server-streaming method")
    parser.add_argument("--http", action="store_true", help="HTTP/1.1 GETs of the URL instead of gRPC")
    args = parser.parse_args()
    if (args.duration is None) == (args.count is None):
        parser.error("give exactly one of --duration and --count")
    budget = Budget(args.warmup, args.duration, args.count)
    started = time.perf_counter()
    if args.http:
        asyncio.run(drive_http(args.target, args.inflight, budget))
    else:
        if not args.method:
            parser.error("the gRPC method is required")
        asyncio.run(drive_grpc(args.target, args.method, bytes.fromhex(args.body_hex), args.inflight,
                               max(1, args.conns), budget, args.stream))
    seconds = args.duration if args.duration is not None else time.perf_counter() - started
    latencies = sorted(budget.latencies)
    json.dump({
        "calls": len(latencies), "errors": budget.errors, "seconds": seconds, "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        "total_ms": sum(latencies) * 1000,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
