"""SIGTERM in the middle of sustained gRPC + HTTP load loses no call that started before it.

Calls made during the drain delay are still served; once the listeners close, calls fail
cleanly: never a wrong answer, never UNKNOWN/INTERNAL; gRPC UNAVAILABLE (or CANCELLED for a call
that reached the server just as it closed), HTTP a refused or closed connection. The test
synchronises on the load itself (every caller has been answered before the signal; each
protocol has been refused after the exit), not on durations, and asserts no throughput.
"""
from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from hybrid_server.testing.process import ServerProcess, port_is_open

GRPC_CALLERS = 64
HTTP_CALLERS = 16
PACE = 0.02  # s between two answered Echo / SyncEcho calls of one caller
CALLS_BEFORE_SIGNAL = 2  # per caller, answered before the signal is sent
DRAIN_DELAY = 1.0
DEADLINE = 60.0  # for each phase: a server that stops answering fails the test, it does not hang it
HTTP_CLEAN_FAILURES = {"ConnectError", "RemoteProtocolError", "ReadError", "WriteError"}


@dataclass
class Call:
    start: float  # loop.time(): the clock the signal time is read from
    end: float
    protocol: str
    outcome: str  # OK, WRONG, a status code name or an httpx exception name
    detail: str = ""


class Load:
    """Callers in one event loop (no GIL queue between "started" and "sent")."""

    def __init__(self, server: ServerProcess, pb2: Any, pb_grpc: Any) -> None:
        self.server, self.pb2, self.pb_grpc = server, pb2, pb_grpc
        self.calls: list[Call] = []
        self.stop = asyncio.Event()
        self.warm = asyncio.Event()
        self.answered = [0] * (GRPC_CALLERS + HTTP_CALLERS)

    def _record(self, index: int, call: Call) -> None:
        self.calls.append(call)
        if call.outcome == "OK":
            self.answered[index] += 1
            if min(self.answered) >= CALLS_BEFORE_SIGNAL:
                self.warm.set()

    async def grpc_caller(self, index: int, channel: grpc.aio.Channel) -> None:
        loop, pb2 = asyncio.get_running_loop(), self.pb2
        stub = self.pb_grpc.ProbeServiceControllerStub(channel)
        kind, number = index % 3, 0
        while not self.stop.is_set():
            number += 1
            token = f"g{index}-{number}"
            started, detail = loop.time(), ""
            try:
                if kind == 0:
                    reply = await stub.AsyncSleep(pb2.ProbeMessage(message=token, seconds=0.2), timeout=30)
                    good = (reply.message, reply.seconds) == ("slept", 0.2)
                else:
                    action = stub.Echo if kind == 1 else stub.SyncEcho
                    reply = await action(pb2.ProbeMessage(message=token, count=number), timeout=30)
                    good = (reply.message, reply.count) == (token, number)
                outcome, detail = ("OK", "") if good else ("WRONG", repr(reply))
            except grpc.RpcError as exc:
                outcome, detail = exc.code().name, f"{('AsyncSleep', 'Echo', 'SyncEcho')[kind]}: {exc.details()}"
            self._record(index, Call(started, loop.time(), "grpc", outcome, detail))
            # Paced: sustained load, not a saturated machine; a refused caller does not spin.
            await asyncio.sleep(0.05 if outcome != "OK" else PACE if kind else 0)

    async def http_caller(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(base_url=self.server.http_url, timeout=30) as client:
            while not self.stop.is_set():
                started = loop.time()
                try:
                    response = await client.get("/slow/", params={"seconds": "0.2"})
                    good = (response.status_code, response.text) == (200, "slow done")
                    outcome, detail = ("OK", "") if good else ("WRONG", f"{response.status_code} {response.text[:200]!r}")
                except httpx.HTTPError as exc:
                    outcome, detail = type(exc).__name__, str(exc)
                self._record(GRPC_CALLERS + index, Call(started, loop.time(), "http", outcome, detail))
                if outcome != "OK":
                    await asyncio.sleep(0.05)

    async def refused_after(self, moment: float) -> None:
        """Until each protocol has a call that started after `moment` and ended."""
        while {c.protocol for c in self.calls if c.start > moment} != {"grpc", "http"}:
            await asyncio.sleep(0.02)

    async def run(self) -> tuple[float, float]:
        """Load, SIGTERM once every caller was answered, wait for the exit and for refusals."""
        loop = asyncio.get_running_loop()
        channels = [grpc.aio.insecure_channel(self.server.grpc_target) for _ in range(4)]
        tasks = [asyncio.create_task(self.grpc_caller(i, channels[i % len(channels)])) for i in range(GRPC_CALLERS)]
        tasks += [asyncio.create_task(self.http_caller(i)) for i in range(HTTP_CALLERS)]
        try:
            await asyncio.wait_for(self.warm.wait(), DEADLINE)
            signalled = loop.time()
            self.server.signal(signal.SIGTERM)
            while self.server.returncode is None:
                if loop.time() > signalled + DEADLINE:
                    raise AssertionError(f"still running {DEADLINE:g}s after SIGTERM:\n{self.server.tail()}")
                await asyncio.sleep(0.02)
            exited = loop.time()
            await asyncio.wait_for(self.refused_after(exited), DEADLINE)
            self.stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
        finally:
            self.stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for channel in channels:
                await channel.close()
        return signalled, exited


def _summary(calls: list[Call], signalled: float, exited: float) -> str:
    counts: dict[tuple[str, str], int] = {}
    for call in calls:
        counts[(call.protocol, call.outcome)] = counts.get((call.protocol, call.outcome), 0) + 1
    examples = {(c.protocol, c.outcome): c.detail for c in calls if c.outcome != "OK"}
    times = {key: sorted({(round(c.start - signalled, 2), round(c.end - signalled, 2)) for c in calls
                          if (c.protocol, c.outcome) == key})[:10] for key in counts if key[1] != "OK"}
    return f"{counts} examples={examples} (start, end) after the signal={times} exit at {exited - signalled:.2f}"


@pytest.mark.parametrize("command", ["grpcrunaioserver", "grpcrunserver"])
def test_sigterm_under_load_loses_no_call_started_before_it(start_server, command, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0",
                          "--max-workers", "16", "--grace", "10", "--drain-delay", str(DRAIN_DELAY))
    load = Load(server, pb2, pb_grpc)
    signalled, exited = asyncio.run(load.run())
    calls = load.calls

    assert server.returncode == 0, server.output
    assert not port_is_open(server.grpc_port) and not port_is_open(server.http_port)

    before = [c for c in calls if c.start < signalled]
    after = [c for c in calls if c.start >= signalled]
    gone = [c for c in calls if c.start > exited]
    summary = _summary(calls, signalled, exited)
    # Every call that started before the signal was served, right.
    assert all(c.outcome == "OK" for c in before), _summary([c for c in before if c.outcome != "OK"], signalled, exited)
    assert not [c for c in calls if c.outcome == "WRONG"], summary

    # After the signal only clean failures: gRPC UNAVAILABLE (refused), or CANCELLED for a call
    # that reached the server as it closed its listeners, after the drain delay (grpc core
    # cancels calls it received but had not yet handed to the application when shutdown starts).
    bad_grpc = [c for c in after if c.protocol == "grpc" and c.outcome not in ("OK", "UNAVAILABLE")
                and not (c.outcome == "CANCELLED" and c.end >= signalled + DRAIN_DELAY)]
    assert not bad_grpc, _summary(bad_grpc, signalled, exited)
    bad_http = [c for c in after if c.protocol == "http" and c.outcome not in HTTP_CLEAN_FAILURES | {"OK"}]
    assert not bad_http, _summary(bad_http, signalled, exited)

    # The drain delay kept serving new calls after the signal...
    assert {c.protocol for c in after if c.outcome == "OK"} == {"grpc", "http"}, summary
    # ...and once the process is gone, every call is refused.
    assert {c.outcome for c in gone if c.protocol == "grpc"} == {"UNAVAILABLE"}, summary
    assert {c.outcome for c in gone if c.protocol == "http"} == {"ConnectError"}, summary

    assert "Traceback" not in server.output, server.tail(5000)
