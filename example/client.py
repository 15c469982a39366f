#!/usr/bin/env python
"""Call every action of the example's BookController and print what comes back.

    python client.py [--target 127.0.0.1:50051]

Needs the generated modules: run `python manage.py generateproto` (or `make run`) first.
Exits 1 when the server cannot be reached, 2 when an RPC fails unexpectedly.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so that `library.grpc` imports

import grpc
from google.protobuf import empty_pb2

try:
    from library.grpc import library_pb2, library_pb2_grpc
except ImportError as exc:
    sys.exit(f"error: {exc}; run `python manage.py generateproto` in {Path(__file__).resolve().parent} first")

TIMEOUT = 10.0


def show(book) -> str:
    year = f", {book.year}" if book.year else ""
    return f"#{book.id} {book.title!r} by {book.author}{year}"


def run(target: str, wait: float = 5.0) -> int:
    with grpc.insecure_channel(target) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=wait)
        except grpc.FutureTimeoutError:
            print(f"error: no gRPC server reachable at {target} (waited {wait:g} s); start it with `make run`",
                  file=sys.stderr)
            return 1
        stub = library_pb2_grpc.BookControllerStub(channel)

        # unary, handled by a sync `def` action (sync ORM)
        created = stub.Create(library_pb2.BookRequest(title="Dune", author="Frank Herbert", year=1965), timeout=TIMEOUT)
        print(f"Create -> {show(created)}")

        # unary, handled by an `async def` action (async ORM)
        fetched = stub.Retrieve(library_pb2.BookRetrieveRequest(id=created.id), timeout=TIMEOUT)
        print(f"Retrieve({created.id}) -> {show(fetched)} created {fetched.created}")

        try:
            stub.Retrieve(library_pb2.BookRetrieveRequest(id=10**12), timeout=TIMEOUT)
            print("Retrieve(missing) -> unexpectedly found", file=sys.stderr)
            return 2
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            print(f"Retrieve(missing) -> {error.code().name}: {error.details()}")

        # client streaming
        new_books = [
            library_pb2.BookRequest(title="Neuromancer", author="William Gibson", year=1984),
            library_pb2.BookRequest(title="Hyperion", author="Dan Simmons", year=1989),
            library_pb2.BookRequest(title="Solaris", author="Stanislaw Lem", year=1961),
        ]
        summary = stub.CreateMany(iter(new_books), timeout=TIMEOUT)
        print(f"CreateMany -> created {summary.count} books, ids {list(summary.ids)}")

        # server streaming
        books = list(stub.List(empty_pb2.Empty(), timeout=TIMEOUT))
        print(f"List -> {len(books)} books")
        for book in books:
            print(f"  {show(book)}")

        # bidirectional streaming
        words = ["hello", "hybrid", "server"]
        replies = [reply.message for reply in stub.Chat(library_pb2.EchoMessage(message=w) for w in words)]
        print(f"Chat {words} -> {replies}")

        # trivial unary
        echo = stub.Echo(library_pb2.EchoMessage(message="ping"), timeout=TIMEOUT)
        print(f"Echo('ping') -> {echo.message!r}")
    print("OK: every action answered")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="gRPC server address (default: %(default)s)")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the server (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        return run(args.target, args.wait)
    except grpc.RpcError as error:
        print(f"error: RPC failed: {error.code().name}: {error.details()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
