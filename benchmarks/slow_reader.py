"""Section 11: the gRPC port's memory per connection when a client never reads (issue 11 item 9).

The worst case of a connection's memory: a client (benchmarks/h2raw.py, raw HTTP/2 over a TCP
socket) whose streams have a receive window of 0 and which never sends WINDOW_UPDATE, so the
server can send no response byte and holds every answer it produced. It opens STREAMS calls at
once, ignoring the server's SETTINGS_MAX_CONCURRENT_STREAMS.

Unary: BenchService.Sized(count=1 MiB) on one connection, then on a second one, for a bare
grpc.aio server (the reference: this file run with --raw-server), `grpcrunaioserver` and
`grpcrunserver` (pinned to SERVER_CPU), with the default stream limit and with
`SERVER_OPTIONS = [("grpc.max_concurrent_streams", 10)]`. Server streams: SizedStream (`async
def`) and SyncSizedStream (`def`), 64 messages of 1 MiB each, on one connection, per server.

Reported: the limit the server advertised, how many streams it took and how many it refused
(RST_STREAM REFUSED_STREAM), how many it answered (response HEADERS) and ended at once (an
error, e.g. RESOURCE_EXHAUSTED), and the growth of its VmRSS per connection, read once its
answers stopped coming (every stream answered or refused, or no change for 2 s) and its RSS
stopped moving (5 samples 0.2 s apart within 1 MiB); every wait is bounded. Then whether
another client's Echo answers while the connections are held, and RSS once they are closed.
"""
from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from typing import Any

from common import BENCH_SERVICE, PYTHON, ROOT, BenchError, Server, grpc_call, pb2
from h2raw import REFUSED_STREAM, RawH2

from hybrid_server.testing.process import ServerGroup, ServerProcessError

RESPONSE_BYTES = 1 << 20
STREAMS = 1000  # unary calls opened per connection, whatever the server advertises
STREAM_CALLS = 200  # server-streaming calls opened on the one connection
RAW = "raw grpc.aio"  # the reference: this file run as a script, Sized alone on a bare grpc.aio server
# (server, grpc.max_concurrent_streams or None for the default, action, connections, calls per connection)
UNARY_CASES = ((RAW, 100, "Sized", 2, STREAMS), ("grpcrunaioserver", None, "Sized", 2, STREAMS),
               ("grpcrunaioserver", 10, "Sized", 2, STREAMS), ("grpcrunserver", None, "Sized", 2, STREAMS),
               ("grpcrunserver", 10, "Sized", 2, STREAMS))
STREAM_CASES = tuple((server, None, action, 1, STREAM_CALLS) for server in ("grpcrunaioserver", "grpcrunserver")
                     for action in ("SizedStream", "SyncSizedStream"))


def stable_rss_kib(server: Server, deadline_s: float = 20.0, keep_alive: Sequence[RawH2] = ()) -> tuple[int, bool]:
    """VmRSS once 5 samples 0.2 s apart agree within 1 MiB (the server stopped producing);
    the last sample and False if that did not happen within `deadline_s`. The raw clients keep
    answering the server's PINGs meanwhile."""
    samples: list[int] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for client in keep_alive:
            client.pump(0.2 / max(1, len(keep_alive)))
        if not keep_alive:
            time.sleep(0.2)
        samples.append(server.rss_kib())
        if len(samples) >= 5 and max(samples[-5:]) - min(samples[-5:]) <= 1024:
            return samples[-1], True
    return samples[-1], False


def open_slow_connection(server: Server, action: str, calls: int, request: bytes, clients: list[RawH2],
                         deadline_s: float = 30.0) -> dict[str, Any]:
    """`calls` calls on a new connection with a zero window; returns once every call was
    answered (response HEADERS) or refused, once nothing changed for 2 s, or at `deadline_s`."""
    assert server.grpc_port is not None
    client = RawH2(server.grpc_port, window=0)
    clients.append(client)
    seen = client.seen
    deadline = time.monotonic() + deadline_s
    while not seen.settings and time.monotonic() < deadline:
        client.pump(0.1)  # the server's SETTINGS first, as a client would (not required)
    for index in range(calls):
        client.unary(f"/{BENCH_SERVICE}/{action}", request)
        if index % 50 == 49:
            client.pump(0)
    last, changed = None, time.monotonic()
    while time.monotonic() < deadline and not seen.closed and len(seen.headers) + sum(seen.resets.values()) < calls:
        client.pump(0.1)
        now = (len(seen.headers), sum(seen.resets.values()), len(seen.ended))
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed > 2.0:
            break
    refused = seen.resets.get(REFUSED_STREAM, 0)
    return {"advertised": seen.max_concurrent_streams, "opened": calls, "refused": refused,
            "other_resets": sum(seen.resets.values()) - refused, "answered": len(seen.headers),
            "ended": len(seen.ended), "accepted": calls - sum(seen.resets.values()),
            "data_bytes": seen.data_bytes, "goaway": seen.goaway, "closed": seen.closed}


def probe(server: Server) -> dict[str, Any]:
    """A real client's Echo on a new channel while the slow connections are held (the time of
    the call, once the channel is connected)."""
    import grpc
    from testapp.grpc import testapp_pb2_grpc

    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            grpc.channel_ready_future(channel).result(timeout=5.0)
            started = time.monotonic()
            reply = testapp_pb2_grpc.BenchServiceControllerStub(channel).Echo(
                pb2().BenchMessage(message="probe"), timeout=5.0)
            elapsed = time.monotonic() - started
    except Exception as exc:  # reported as the figure
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    return {"ok": reply.message == "probe", "ms": elapsed * 1000}


def run_case(ctx: Any, command: str, max_streams: int | None, action: str, connections: int,
             calls: int) -> dict[str, Any]:
    env = dict(ctx.env)
    if max_streams is not None and command != RAW:
        env["TESTPROJECT_MAX_STREAMS"] = str(max_streams)  # SERVER_OPTIONS (tests/testproject settings)
    label = f"{command} {action}" + ("" if max_streams is None or command == RAW else f" max_streams={max_streams}")
    request = pb2().BenchMessage(count=RESPONSE_BYTES).SerializeToString()
    clients: list[RawH2] = []
    with ServerGroup(ctx.log) as servers:
        if command == RAW:
            server = servers.add(Server([PYTHON, __file__, "--raw-server"], cwd=ROOT, env=env, label=label))
        else:
            server = servers.add(Server.manage(command, "127.0.0.1:0", env=env, label=label))
        answer = grpc_call(server.grpc_target, "Sized", count=RESPONSE_BYTES)  # checked, and warm
        if len(answer.message) != RESPONSE_BYTES:
            raise BenchError(f"{label}: Sized answered {len(answer.message)} bytes, expected {RESPONSE_BYTES}")
        idle_kib, _ = stable_rss_kib(server)
        conns = []
        try:
            before = idle_kib
            for _ in range(connections):
                conn = open_slow_connection(server, action, calls, request, clients)
                rss, settled = stable_rss_kib(server, keep_alive=clients)
                conn.update(rss_mib=rss / 1024, growth_mib=(rss - before) / 1024, settled=settled)
                before = rss
                conns.append(conn)
                ctx.log(f"  [slowreader] {label}: connection {len(conns)}: advertised {conn['advertised']}, "
                        f"{conn['accepted']} calls taken ({conn['answered']} answered, {conn['ended']} of them "
                        f"ended at once), {conn['refused']} refused, {conn['data_bytes']} DATA bytes; "
                        f"RSS {rss / 1024:.1f} MiB ({conn['growth_mib']:+.1f}){'' if settled else ' (still moving)'}")
            other = probe(server) if command != RAW else {"ok": True, "skipped": True}  # it serves Sized only
        finally:
            for client in clients:
                client.close()
        try:
            after_kib: int | None = stable_rss_kib(server, deadline_s=10.0)[0]
        except (OSError, ServerProcessError):  # /proc/PID is gone: the server died when the clients went away
            after_kib = None
        died = server.returncode
        if died is not None:  # a figure, not a reason to stop: say how it died
            ctx.log(f"  [slowreader] {label}: the server DIED ({_exit_text(died)}) when the clients closed their "
                    f"connections:\n{server.tail(1500)}")
    closed_text = "died" if after_kib is None else f"{after_kib / 1024:.1f} MiB"
    ctx.log(f"  [slowreader] {label}: another client's Echo {other}; RSS once closed: {closed_text}")
    per_conn = max(c["growth_mib"] for c in conns)
    held = max(c["answered"] - c["ended"] for c in conns)
    return {"server": command, "max_streams": max_streams, "action": action, "idle_mib": idle_kib / 1024,
            "connections": conns, "probe": other, "after_close_mib": None if after_kib is None else after_kib / 1024,
            "died": died,
            "mib_per_connection": per_conn, "held": held, "mib_per_held": per_conn / max(1, held)}


def run(ctx: Any) -> dict[str, Any]:
    return {"streams": STREAMS, "stream_calls": STREAM_CALLS, "response_bytes": RESPONSE_BYTES,
            "rows": [run_case(ctx, *case) for case in UNARY_CASES],
            "stream_rows": [run_case(ctx, *case) for case in STREAM_CASES]}


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def _closed(row: dict[str, Any]) -> str:
    if row.get("died") is not None:
        return f"**server died ({_exit_text(row['died'])})**"
    return f"{row['after_close_mib']:.0f}"


def _bounded(row: dict[str, Any]) -> bool:
    """Every connection held at most the advertised streams, another client was answered, and
    the server outlived the clients."""
    return bool(row["probe"]["ok"]) and row.get("died") is None and all(
        c["advertised"] is not None and c["accepted"] <= c["advertised"] for c in row["connections"])


def _probe_text(row: dict[str, Any]) -> str:
    if row["probe"].get("skipped"):
        return "—"
    if row["probe"].get("ok"):
        return f"answered in {row['probe']['ms']:.1f} ms"
    return row["probe"].get("error", "wrong answer")


def _growth(conn: dict[str, Any]) -> str:
    return f"{conn['growth_mib']:+.0f}" + ("" if conn["settled"] else " (moving)")


def markdown(result: dict[str, Any]) -> str:
    mib = result["response_bytes"] / (1 << 20)
    lines = [f"**Unary.** A client whose streams have a window of 0 (it never reads) opens {result['streams']:,} "
             f"calls answering {mib:g} MiB each on one connection, then a second connection does the same.", "",
             "| server | `grpc.max_concurrent_streams` | advertised | calls taken / refused (per connection) | "
             "RSS idle MiB | + 1st connection | + 2nd connection | MiB per held call | "
             "another client's Echo meanwhile | RSS once closed |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for row in result["rows"]:
        conns = row["connections"]
        taken = " · ".join(f"{c['accepted']} / {c['refused']}" for c in conns)
        lines.append(f"| {row['server']} | {row['max_streams'] or '100 (default)'} | {conns[0]['advertised']} | "
                     f"{taken} | {row['idle_mib']:.0f} | {_growth(conns[0])} | {_growth(conns[-1])} | "
                     f"{row['mib_per_held']:.2f} | {_probe_text(row)} | {_closed(row)} |")
    lines += ["", f"**Server streams.** The same client opens {result['stream_calls']} calls on one connection, each "
              f"asking for 64 messages of {mib:g} MiB (`SizedStream`: `async def`; `SyncSizedStream`: `def`); "
              "default settings (`--max-workers` 10, so `MAX_STREAM_WORKERS` 5).", "",
              "| server | action | calls taken / refused | producing (answered, not ended) | ended at once | "
              "RSS idle MiB | + the connection | MiB per producing call | another client's Echo | RSS once closed |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for row in result["stream_rows"]:
        conn = row["connections"][0]
        lines.append(f"| {row['server']} | {row['action']} | {conn['accepted']} / {conn['refused']} | {row['held']} | "
                     f"{conn['ended']} | {row['idle_mib']:.0f} | {_growth(conn)} | {row['mib_per_held']:.1f} | "
                     f"{_probe_text(row)} | {_closed(row)} |")
    conns = [c for row in result["rows"] + result["stream_rows"] for c in row["connections"]]
    lines += ["", f"DATA bytes the servers sent: {sum(c['data_bytes'] for c in conns)}. A held unary call costs about "
              "3 times its response: until it is sent, grpc keeps the response message, its serialized bytes and "
              "grpc core's copy (the bare grpc.aio server shows the same). A producing stream holds one message "
              "that way, plus, where a thread and the event loop hand messages over (`def` streams on "
              "grpcrunaioserver, `async def` streams on grpcrunserver), up to 16 more in the hand-over buffer; "
              "those streams are limited by `MAX_STREAM_WORKERS` per process (the others wait, or get "
              "RESOURCE_EXHAUSTED on grpcrunserver: 'ended at once'). RSS once closed: what the allocator had "
              "given back once RSS stopped moving."]
    return "\n".join(lines)


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = result["rows"] + result["stream_rows"]
    figures = "; ".join(f"{row['server']} ({row['max_streams'] or 100} streams): {row['mib_per_connection']:.0f} MiB"
                        for row in result["rows"])
    died = [f"{row['server']} {row['action']}: server died ({_exit_text(row['died'])}) when the client left"
            for row in rows if row.get("died") is not None]
    return [{"goal": "gRPC port: a client that never reads holds at most `grpc.max_concurrent_streams` responses "
                     "per connection (MiB per connection, 1 MiB unary responses), other clients are answered, and "
                     "the server outlives it (unary and server streams)",
             "figure": "; ".join([figures, *died]), "met": all(_bounded(row) for row in rows)}]


def raw_server() -> None:
    """`python benchmarks/slow_reader.py --raw-server`: Sized on a bare grpc.aio server (no
    Django), 100 concurrent streams per connection like ours, on 127.0.0.1 and a free port."""
    import asyncio

    import grpc

    message = pb2().BenchMessage

    async def sized(request: Any, _context: Any) -> Any:
        return message(message="x" * request.count)

    async def serve() -> None:
        handler = grpc.unary_unary_rpc_method_handler(sized, request_deserializer=message.FromString,
                                                      response_serializer=message.SerializeToString)
        server = grpc.aio.server(options=[("grpc.max_concurrent_streams", 100), ("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(BENCH_SERVICE, {"Sized": handler})])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"gRPC server listening on 127.0.0.1:{port}", flush=True)
        print("Quit with CONTROL-C.", flush=True)
        await server.wait_for_termination()

    asyncio.run(serve())


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--raw-server"]:
        raw_server()
