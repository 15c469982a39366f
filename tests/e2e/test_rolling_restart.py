"""A rolling restart behind a real load balancer loses nothing.

HAProxy runs `docs/examples/haproxy.cfg` itself (the file docs/deployment.md documents; only
its environment variables differ: loopback ports and fast checks) in front of two replicas of
the test project. Client threads call through HAProxy at a steady pace, unary gRPC `Echo` and
HTTP `GET /hello/`, plus one thread per protocol with 1.5 s calls that are still running when a
replica closes its listeners; every answer is checked. Each round restarts the replicas one
after the other: SIGTERM (the replica answers 503 on /readyz and keeps serving for its drain delay),
HAProxy marks it down, the process exits, a new one starts on the same ports, HAProxy marks it
up and sends it calls again. Not one call may fail, on either protocol, in any round.

Everything waits on an observed state (HAProxy's runtime API, the replica's exit, its banner,
HAProxy's per-server counters), each wait bounded; no sleeps decide anything. The clients do not
retry (grpc's retries are off). The shipped file lets HAProxy retry a connection that could not
be made (`retry-on conn-failure`, on another replica); the test asserts that HAProxy logged no
retried, redispatched or failed request, so the drain alone lost nothing.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from hybrid_server.testing.process import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "docs" / "examples" / "haproxy.cfg"

ROUNDS = 3
DRAIN_DELAY = 1.0  # > what HAProxy needs to see the 503: inter 200 ms x fall 1 + the check itself
CHECKS = {"CHECK_INTER": "200ms", "CHECK_FALL": "1", "CHECK_RISE": "1", "CHECK_TIMEOUT": "500ms"}
GRPC_CLIENTS = 3  # threads, one channel (one HTTP/2 connection to HAProxy) each
HTTP_CLIENTS = 2  # threads, one keep-alive connection each
# Thread 0 of each protocol makes long calls instead (gRPC AsyncSleep, HTTP /slow/), so that
# some are still running when a replica closes its listeners and must finish in its grace.
LONG_CALL = 1.5  # seconds: more than the drain delay
MAX_CALLS = 5_000  # per client thread: the load is bounded even if the test's own stop is missed
PACE = 0.02  # seconds between one thread's calls: a steady load that leaves the restarts some CPU
CALL_TIMEOUT = 10.0
WAIT = 20.0  # for each observed state (down, exit, ready, up, answered)
ANSWERED_AFTER_UP = 5  # calls per protocol the restarted replica must answer before the next step


# --------------------------------------------------------------------------- haproxy itself

def _haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(path, os.X_OK)), None)


def _install_haproxy() -> str:
    """haproxy's path: found, or installed with apt-get when we are root (as `make test` does);
    skips only when it is missing and cannot be installed."""
    found = _haproxy_binary()
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        pytest.skip("haproxy is not installed and cannot be installed here (needs root and apt-get: "
                    "apt-get install haproxy)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt_get, "install", "-y", "-qq", "haproxy"]
    attempts = [install, [apt_get, "update", "-qq"], install]
    outputs = []
    for index, command in enumerate(attempts):
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=150)
        except subprocess.TimeoutExpired:
            outputs.append(f"{' '.join(command)}: timed out")
            continue
        outputs.append(result.stdout[-500:] + result.stderr[-1000:])
        if index != 1 and result.returncode == 0 and _haproxy_binary():
            break
    found = _haproxy_binary()
    if not found:
        pytest.fail("haproxy is missing and `apt-get install haproxy` failed:\n" + "\n".join(outputs))
    return found


class HAProxy:
    """HAProxy with the shipped configuration, in the foreground, asked through its runtime API."""

    def __init__(self, binary: str, socket_path: Path, env: dict[str, str]) -> None:
        self.socket_path = socket_path
        self.process = ServerProcess([binary, "-db", "-f", str(HAPROXY_CFG)], env=env, label="haproxy")

    def start(self) -> HAProxy:
        self.process.start()
        self.wait(lambda: self.command("show info") is not None, "its runtime API answers")
        return self

    def command(self, line: str) -> str | None:
        """The runtime API's answer to one command; None while it does not listen."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                return b"".join(chunks).decode()
        except OSError:
            return None

    def server_states(self) -> dict[tuple[str, str], int]:
        """(backend, server) -> operational state (0 stopped, 2 running), from `show servers state`."""
        text = self.command("show servers state") or ""
        lines = [line for line in text.splitlines() if line.strip()]  # a format version, a header, rows
        header = next((index for index, line in enumerate(lines) if line.startswith("# be_id")), None)
        if header is None:
            return {}
        names = lines[header][2:].split()
        states = {}
        for line in lines[header + 1:]:
            if line[0].isdigit():
                row = dict(zip(names, line.split(), strict=False))
                states[(row["be_name"], row["srv_name"])] = int(row["srv_op_state"])
        return states

    def answered(self) -> Counter[tuple[str, str]]:
        """(backend, server) -> 2xx responses so far, from `show stat`."""
        text = self.command("show stat") or ""
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            return Counter()
        names = lines[0][2:].split(",")
        counts: Counter[tuple[str, str]] = Counter()
        for line in lines[1:]:
            row = dict(zip(names, line.split(","), strict=False))
            if row.get("svname") not in (None, "FRONTEND", "BACKEND"):
                counts[(row["pxname"], row["svname"])] = int(row.get("hrsp_2xx") or 0)
        return counts

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.returncode is not None:
                raise AssertionError(f"haproxy exited ({self.process.returncode}) before {what}:\n"
                                     f"{self.process.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout:g}s: {what}\nservers: {self.server_states()}\n"
                                     f"haproxy log:\n{self.process.tail()}")
            time.sleep(0.01)  # polling an observed state, not waiting for time to pass

    def stop(self) -> None:
        self.process.stop()


def _request_log(output: str) -> list[str]:
    """HAProxy's request log lines (`option httplog`: "... [date] public backend/server ..."),
    without its health-check messages."""
    return [line for line in output.splitlines() if re.search(r"\] public~? \S+/\S+ ", line)]


# --------------------------------------------------------------------------- the load

@dataclass
class Tally:
    ok: Counter[tuple[int, str]] = field(default_factory=Counter)  # (round, protocol) -> calls
    failed: list[tuple[int, str, str, float]] = field(default_factory=list)  # round, protocol, what, when

    def failed_in(self, round_: int, protocol: str) -> int:
        return sum(1 for r, p, _, _ in self.failed if (r, p) == (round_, protocol))


class Load:
    """Client threads calling through HAProxy until `stop`, each at most MAX_CALLS times."""

    def __init__(self, target: str, pb2: Any, pb_grpc: Any) -> None:
        self.target, self.pb2, self.pb_grpc = target, pb2, pb_grpc
        self.round = 0  # set by the test; 0 = before the first restart
        self.tally = Tally()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._grpc_client, args=(i,), name=f"grpc-{i}", daemon=True)
                        for i in range(GRPC_CLIENTS)]
        self.threads += [threading.Thread(target=self._http_client, args=(i,), name=f"http-{i}", daemon=True)
                         for i in range(HTTP_CLIENTS)]

    def _record(self, protocol: str, failure: str | None) -> None:
        with self.lock:
            if failure is None:
                self.tally.ok[(self.round, protocol)] += 1
            else:
                self.tally.failed.append((self.round, protocol, failure, time.monotonic()))

    def _grpc_client(self, index: int) -> None:
        # No client-side retries: whatever HAProxy or a replica gets wrong is seen here.
        with grpc.insecure_channel(self.target, options=[("grpc.enable_retries", 0)]) as channel:
            stub = self.pb_grpc.ProbeServiceControllerStub(channel)
            for number in range(MAX_CALLS):
                if self.stop.is_set():
                    return
                token = f"c{index}-{number}"
                try:
                    if index == 0:
                        reply = stub.AsyncSleep(self.pb2.ProbeMessage(message=token, seconds=LONG_CALL),
                                                timeout=CALL_TIMEOUT)
                        good = (reply.message, reply.seconds) == ("slept", LONG_CALL)
                    else:
                        reply = stub.Echo(self.pb2.ProbeMessage(message=token, count=number), timeout=CALL_TIMEOUT)
                        good = (reply.message, reply.count) == (token, number)
                    self._record("grpc", None if good else f"WRONG {reply!r}")
                except grpc.RpcError as exc:
                    self._record("grpc", f"{exc.code().name}: {exc.details()}")
                self.stop.wait(PACE)

    def _http_client(self, index: int) -> None:
        with httpx.Client(base_url=f"http://{self.target}", timeout=CALL_TIMEOUT) as client:
            for _ in range(MAX_CALLS):
                if self.stop.is_set():
                    return
                try:
                    if index == 0:
                        response = client.get("/slow/", params={"seconds": str(LONG_CALL)})
                        good = (response.status_code, response.text) == (200, "slow done")
                    else:
                        response = client.get("/hello/")
                        good = (response.status_code, response.text) == (200, "hello from django")
                    self._record("http", None if good else f"WRONG {response.status_code} {response.text[:200]!r}")
                except httpx.HTTPError as exc:
                    self._record("http", f"{type(exc).__name__}: {exc}")
                self.stop.wait(PACE)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(CALL_TIMEOUT + 5)


# --------------------------------------------------------------------------- the test

@pytest.fixture
def haproxy_binary() -> str:
    return _install_haproxy()


@pytest.fixture
def haproxy_runner(tmp_path: Path) -> Iterator[Callable[..., HAProxy]]:
    started: list[HAProxy] = []

    def run(binary: str, env: dict[str, str]) -> HAProxy:
        proxy = HAProxy(binary, tmp_path / "haproxy.sock", {**env, "HAPROXY_STATS_SOCKET": str(tmp_path / "haproxy.sock")})
        started.append(proxy)
        return proxy.start()

    yield run
    for proxy in started:
        proxy.stop()


@pytest.mark.timeout(240)  # the first run may install haproxy
def test_rolling_restart_behind_haproxy_loses_no_call(haproxy_binary, haproxy_runner, start_server, pb):
    pb2, pb_grpc = pb
    ports = {name: free_port() for name in ("R1_GRPC_PORT", "R1_HTTP_PORT", "R2_GRPC_PORT", "R2_HTTP_PORT")}
    listen = f"127.0.0.1:{free_port()}"
    replicas = {"r1": ("R1_GRPC_PORT", "R1_HTTP_PORT"), "r2": ("R2_GRPC_PORT", "R2_HTTP_PORT")}

    def start_replica(name: str, ready: bool = True) -> ServerProcess:
        grpc_port, http_port = (ports[key] for key in replicas[name])
        return start_server("grpcrunaioserver", f"127.0.0.1:{grpc_port}", "--with-http", f"127.0.0.1:{http_port}",
                            "--drain-delay", str(DRAIN_DELAY), "--grace", "10", ready=ready)

    running = {name: start_replica(name, ready=False) for name in replicas}  # both start at once
    for server in running.values():
        server.wait_ready()
    proxy = haproxy_runner(haproxy_binary, {
        **{key: str(port) for key, port in ports.items()}, "R1_HOST": "127.0.0.1", "R2_HOST": "127.0.0.1",
        "LISTEN_ADDR": listen, **CHECKS})
    backends = ("replicas_grpc", "replicas_http")

    def state(name: str) -> set[int]:
        states = proxy.server_states()
        return {states.get((backend, name), -1) for backend in backends}

    def answered_by(name: str) -> tuple[int, ...]:
        counts = proxy.answered()
        return tuple(counts[(backend, name)] for backend in backends)

    for name in replicas:
        proxy.wait(lambda name=name: state(name) == {2}, f"{name} up in both backends")

    timeline: list[str] = []
    with Load(listen, pb2, pb_grpc) as load:
        for name in replicas:  # both replicas answer through HAProxy before anything restarts
            proxy.wait(lambda name=name: min(answered_by(name)) >= ANSWERED_AFTER_UP, f"{name} answers")
        for round_ in range(1, ROUNDS + 1):
            load.round = round_
            for name in replicas:
                old = running[name]
                old.signal(signal.SIGTERM)  # /readyz 503 at once, serving on for the drain delay
                signalled = time.monotonic()
                proxy.wait(lambda name=name: state(name) == {0}, f"round {round_}: HAProxy marks {name} down")
                marked_down = time.monotonic()
                assert old.returncode is None, (
                    f"round {round_}: {name} exited before HAProxy took it out; the drain delay is too short")
                assert old.wait(WAIT) == 0, old.tail()
                exited = time.monotonic()
                assert "Traceback" not in old.output, old.tail(5000)
                running[name] = start_replica(name)  # the same ports; start_server waits for the banner
                ready = time.monotonic()
                proxy.wait(lambda name=name: state(name) == {2}, f"round {round_}: HAProxy marks {name} up")
                up = time.monotonic()
                before = answered_by(name)
                proxy.wait(lambda name=name, before=before: min(
                    now - then for now, then in zip(answered_by(name), before, strict=True)) >= ANSWERED_AFTER_UP,
                    f"round {round_}: the new {name} answers calls through HAProxy")
                timeline.append(f"round {round_} {name}: SIGTERM, marked down +{marked_down - signalled:.2f}s, "
                                f"exit +{exited - signalled:.2f}, new one ready +{ready - signalled:.2f}, "
                                f"marked up +{up - signalled:.2f}, answering +{time.monotonic() - signalled:.2f}")
    tally = load.tally

    report = "; ".join(f"round {r}: gRPC {tally.ok[(r, 'grpc')]} ok/{tally.failed_in(r, 'grpc')} failed, "
                       f"HTTP {tally.ok[(r, 'http')]} ok/{tally.failed_in(r, 'http')} failed"
                       for r in range(ROUNDS + 1))
    logged = _request_log(proxy.process.output)
    print(report, *timeline, sep="\n")
    assert not tally.failed, (f"{len(tally.failed)} failed calls: {report}\nfirst ones: {tally.failed[:10]}\n"
                              "timeline:\n" + "\n".join(timeline) + "\nhaproxy's request log:\n" + "\n".join(logged[:50]))
    # HAProxy logs only abnormal requests (dontlog-normal): failed, retried or redispatched ones.
    # None at all: its retries were never needed, the replicas' drain alone lost nothing.
    assert not logged, "\n".join(logged[:50])
    for round_ in range(1, ROUNDS + 1):  # load really ran through every round, on both protocols
        assert tally.ok[(round_, "grpc")] > 0 and tally.ok[(round_, "http")] > 0, report
    for server in running.values():  # the last ones served to the end, and drain together now
        assert server.returncode is None, server.tail()
        server.signal(signal.SIGTERM)
    for server in running.values():
        assert server.wait(WAIT) == 0, server.tail()


def test_deployment_doc_shows_the_file_the_test_runs():
    """docs/deployment.md shows docs/examples/haproxy.cfg verbatim."""
    doc = (ROOT / "docs" / "deployment.md").read_text()
    shown = re.search(r"```haproxy\n(.*?)```", doc, re.S)
    assert shown is not None, "no ```haproxy block in docs/deployment.md"
    assert shown.group(1) == HAPROXY_CFG.read_text(), "docs/deployment.md and docs/examples/haproxy.cfg differ"
