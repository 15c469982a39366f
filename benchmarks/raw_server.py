"""The reference: a bare grpc.aio server answering BenchServiceController, no Django.

    python benchmarks/raw_server.py [ADDR] [--uvloop]

Serves the generated stubs of tests/testproject (run `manage.py generateproto` there
first) with the smallest possible handlers: Echo (async def) and Stream (an async
generator yielding `count` messages), the same as testapp/services/bench_service.py. Prints the same banner as the real commands
("gRPC server listening on HOST:PORT", then "Quit with CONTROL-C.") so the benchmark can
start both the same way; stops on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

TESTPROJECT = Path(__file__).resolve().parent.parent / "tests" / "testproject"
sys.path.insert(0, str(TESTPROJECT))

import grpc  # noqa: E402
from testapp.grpc import testapp_pb2, testapp_pb2_grpc  # noqa: E402

BenchMessage = testapp_pb2.BenchMessage


class Bench(testapp_pb2_grpc.BenchServiceControllerServicer):
    async def Echo(self, request, context):
        return BenchMessage(message=request.message)

    async def Stream(self, request, context):
        for index in range(request.count):
            yield BenchMessage(message=request.message, count=index)


async def serve(address: str) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    testapp_pb2_grpc.add_BenchServiceControllerServicer_to_server(Bench(), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise SystemExit(f"cannot bind {address}")
    await server.start()
    host = address.rsplit(":", 1)[0]
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"raw grpc.aio on {loop_name}", flush=True)
    print(f"gRPC server listening on {host}:{port}", flush=True)
    print("Quit with CONTROL-C.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", nargs="?", default="127.0.0.1:0")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of the default asyncio loop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.address))
    else:
        asyncio.run(serve(args.address))


if __name__ == "__main__":
    main()
