"""The references: bare grpc servers answering BenchServiceController, no Django.

    python benchmarks/raw_server.py [ADDR] [--uvloop | --threads]

Serves the generated stubs of tests/testproject (run `manage.py generateproto` there first)
with the smallest possible handlers, the same as testapp/services/bench_service.py: Echo and
SyncEcho (unary), Stream (server streaming: `count` messages), Collect (client streaming:
answers the number of messages read), Bidi (echoes each message). Default: `grpc.aio` on
asyncio (`--uvloop`: on uvloop), `async def` handlers. `--threads`: `grpc.server(
ThreadPoolExecutor(10))` with plain `def` handlers, the reference of the thread-pool backend.
Prints the same banner as the real commands ("gRPC server listening on HOST:PORT", then
"Quit with CONTROL-C.") so the benchmark can start all of them the same way; stops on
SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

TESTPROJECT = Path(__file__).resolve().parent.parent / "tests" / "testproject"
sys.path.insert(0, str(TESTPROJECT))

import grpc  # noqa: E402
from testapp.grpc import testapp_pb2, testapp_pb2_grpc  # noqa: E402

BenchMessage = testapp_pb2.BenchMessage


class AioBench(testapp_pb2_grpc.BenchServiceControllerServicer):
    async def Echo(self, request, context):
        return BenchMessage(message=request.message)

    SyncEcho = Echo

    async def Stream(self, request, context):
        for index in range(request.count):
            yield BenchMessage(message=request.message, count=index)

    async def Collect(self, request_iterator, context):
        count = 0
        async for _message in request_iterator:
            count += 1
        return BenchMessage(message="collected", count=count)

    async def Bidi(self, request_iterator, context):
        async for message in request_iterator:
            yield BenchMessage(message=message.message, count=message.count)


class ThreadsBench(testapp_pb2_grpc.BenchServiceControllerServicer):
    def Echo(self, request, context):
        return BenchMessage(message=request.message)

    SyncEcho = Echo

    def Stream(self, request, context):
        for index in range(request.count):
            yield BenchMessage(message=request.message, count=index)

    def Collect(self, request_iterator, context):
        count = 0
        for _message in request_iterator:
            count += 1
        return BenchMessage(message="collected", count=count)

    def Bidi(self, request_iterator, context):
        for message in request_iterator:
            yield BenchMessage(message=message.message, count=message.count)


def _banner(address: str, port: int, kind: str) -> None:
    host = address.rsplit(":", 1)[0]
    print(f"raw {kind}", flush=True)
    print(f"gRPC server listening on {host}:{port}", flush=True)
    print("Quit with CONTROL-C.", flush=True)


async def serve_aio(address: str) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    testapp_pb2_grpc.add_BenchServiceControllerServicer_to_server(AioBench(), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise SystemExit(f"cannot bind {address}")
    await server.start()
    loop = asyncio.get_running_loop()
    _banner(address, port, f"grpc.aio on {type(loop).__module__.split('.')[0]}")
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(None)


def serve_threads(address: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10), options=[("grpc.so_reuseport", 0)])
    testapp_pb2_grpc.add_BenchServiceControllerServicer_to_server(ThreadsBench(), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise SystemExit(f"cannot bind {address}")
    server.start()
    _banner(address, port, "grpc.server(ThreadPoolExecutor(10))")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.stop(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", nargs="?", default="127.0.0.1:0")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--uvloop", action="store_true", help="grpc.aio on uvloop instead of the default asyncio loop")
    kind.add_argument("--threads", action="store_true", help="grpc.server(ThreadPoolExecutor(10)), def handlers")
    args = parser.parse_args()
    if args.threads:
        serve_threads(args.address)
    elif args.uvloop:
        import uvloop

        uvloop.run(serve_aio(args.address))
    else:
        asyncio.run(serve_aio(args.address))


if __name__ == "__main__":
    main()
