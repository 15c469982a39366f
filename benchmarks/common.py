"""Shared pieces of the benchmark sections: servers, load generators, checks, statistics.

Every server is a `hybrid_server.testing.ServerProcess` (the harness the tests use) in its own
subprocess and session, pinned to SERVER_CPU unless a section says otherwise; every one is
stopped (SIGTERM, then SIGKILL of its session) when its section's `ServerGroup` ends, on error,
on Ctrl-C and at interpreter exit.
"""
from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
TESTPROJECT = ROOT / "tests" / "testproject"
PYTHON = sys.executable
if str(TESTPROJECT) not in sys.path:
    sys.path.insert(0, str(TESTPROJECT))

# One harness for tests and benchmarks (sections import ServerGroup, free_port, ... from it too).
from hybrid_server.testing.process import READY_LINE, UVICORN_LINE, ServerProcess, clean_environ  # noqa: E402

SERVER_CPU = 0
LOAD_CPU = 1
BENCH_SERVICE = "testproject.testapp.BenchServiceController"
MESSAGE = "hello"
HELLO_PATH = "/hello/"
HELLO_BODY = b"hello from django"
CLK_TCK = os.sysconf("SC_CLK_TCK")

Log = Callable[[str], None]


class BenchError(RuntimeError):
    """A figure that cannot be trusted: wrong answer, errors under load, a missing tool."""


# --------------------------------------------------------------------------- environment


def ensure_protos(log: Log) -> None:
    """The test project's stubs, (re)made with `manage.py generateproto` when missing or older
    than its services (the benchmarks call BenchService's Collect and Bidi too)."""
    grpc_dir = TESTPROJECT / "testapp" / "grpc"
    stub = grpc_dir / "testapp_pb2_grpc.py"
    sources = [grpc_dir / "testapp.proto", *(TESTPROJECT / "testapp" / "services").glob("*.py")]
    newest = max(path.stat().st_mtime for path in sources if path.exists())
    if not stub.exists() or stub.stat().st_mtime < newest or "Bidi" not in stub.read_text():
        log("generating the test project's protos (manage.py generateproto)")
        subprocess.run([PYTHON, "manage.py", "generateproto"], cwd=TESTPROJECT, check=True, timeout=120,
                       env=clean_environ())


def migrated_db(workdir: Path, project: Path = TESTPROJECT) -> dict[str, str]:
    """A throw-away migrated SQLite DB; returns the servers' extra environment."""
    env = {"TESTPROJECT_DB": str(workdir / "bench.sqlite3")}
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=project, check=True, timeout=120,
                   env=clean_environ(env))
    return env


def pb2() -> Any:
    from testapp.grpc import testapp_pb2

    return testapp_pb2


def grpc_frame(message: bytes) -> bytes:
    """The gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


class Framed(bytes):
    """A request body already framed (several messages: a client stream), sent as it is."""


def bench_request(**fields: Any) -> bytes:
    return pb2().BenchMessage(**fields).SerializeToString()


# --------------------------------------------------------------------------- processes


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP to the benchmark behave like Ctrl-C: unwind, stopping every server."""

    def raise_interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(signum, raise_interrupt)
        except (OSError, ValueError):
            pass
    # Also when started with SIGINT ignored (a background job of a script): Ctrl-C / kill -INT must unwind.
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Server(ServerProcess):
    """A benchmark server (`hybrid_server.testing.ServerProcess`): the test project's by
    default, pinned to SERVER_CPU; uvicorn's own ready line for a plain uvicorn."""

    def __init__(self, args: list[str], cwd: Path = TESTPROJECT, env: dict[str, str] | None = None,
                 cpu: int | None = SERVER_CPU, label: str = "") -> None:
        # cpu=None: every CPU, explicitly (run.py itself is pinned to LOAD_CPU and children inherit that).
        cpus = str(cpu) if cpu is not None else f"0-{(os.cpu_count() or 1) - 1}"
        ready = UVICORN_LINE if "uvicorn" in " ".join(args) else READY_LINE
        super().__init__(args, cwd=cwd, env=env, cpus=cpus, label=label, ready=ready)

    @classmethod
    def manage(cls, *command: str, **kwargs: Any) -> Server:  # type: ignore[override]
        return cls([PYTHON, "manage.py", *command], **kwargs)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a whole process (all its threads) from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def session_cpu(sid: int) -> float:
    """CPU of every live process of a session (a supervisor and its workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- checks (real clients)


# For polling a server that is (re)starting: reconnect after 10-50 ms, not grpc's default ~1 s backoff.
FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 10), ("grpc.min_reconnect_backoff_ms", 10),
                  ("grpc.max_reconnect_backoff_ms", 50)]


def grpc_call(target: str, action: str, timeout: float = 10.0, ready_timeout: float = 15.0, **fields: Any) -> Any:
    import grpc
    from testapp.grpc import testapp_pb2_grpc

    with grpc.insecure_channel(target, options=FAST_RECONNECT) as channel:
        grpc.channel_ready_future(channel).result(timeout=ready_timeout)
        stub = testapp_pb2_grpc.BenchServiceControllerStub(channel)
        return getattr(stub, action)(pb2().BenchMessage(**fields), timeout=timeout)


def check_echo(target: str, action: str = "Echo") -> int:
    """One real stub call; returns the size of the framed response (what h2load must receive)."""
    response = grpc_call(target, action, message=MESSAGE)
    if response.message != MESSAGE:
        raise BenchError(f"{action} on {target} answered {response!r}, expected message={MESSAGE!r}")
    return len(grpc_frame(response.SerializeToString()))


def http_get(base: str, path: str = HELLO_PATH, timeout: float = 5.0) -> tuple[int, bytes]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_hello(base: str) -> int:
    status, body = http_get(base)
    if status != 200 or body != HELLO_BODY:
        raise BenchError(f"GET {base}{HELLO_PATH} answered {status} {body[:200]!r}")
    return len(body)


# --------------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else float("nan")


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def spread(values: list[float]) -> float | None:
    """Half the range relative to the median: how far apart the runs were."""
    values = [v for v in values if v]
    if len(values) < 2:
        return None
    return (max(values) - min(values)) / 2 / statistics.median(values)


DISTURBED_CPU = 0.85  # a saturating run whose pinned server got less of its CPU was disturbed
CPU_FILTER = True  # off with the Python load generator: it cannot saturate the server


def bracket_ratios(ref_runs: list[float], runs: list[float], ref_cpu: list[float] | None = None,
                   cpu: list[float] | None = None) -> list[float | None]:
    """Run i of ours happened between reference runs i and i+1: ratio to their geometric mean.

    With the server-CPU shares of the runs (pinned, saturating runs only), a ratio whose own run
    or one of its two reference runs got < DISTURBED_CPU of its core is None: some other process
    took the CPU, and that run compares nothing. The median of the others is reported.
    """
    ratios: list[float | None] = []
    for index, value in enumerate(runs):
        after_index = index + 1 if index + 1 < len(ref_runs) else index
        before, after = ref_runs[index], ref_runs[after_index]
        if CPU_FILTER and cpu is not None and ref_cpu is not None and min(
                cpu[index], ref_cpu[index], ref_cpu[after_index]) < DISTURBED_CPU:
            ratios.append(None)
            continue
        ratios.append(value / math.sqrt(before * after))
    if ratios and all(r is None for r in ratios):  # all disturbed: keep them all rather than nothing
        return bracket_ratios(ref_runs, runs)
    return ratios


def fmt_ratio(ratio: float | None, ratios: list[float | None] | None) -> str:
    if ratio is None or ratios is None:
        return "—"
    used = sum(r is not None for r in ratios)
    return f"{ratio:.2f}" + (f" ({used}/{len(ratios)} runs)" if used < len(ratios) else "")


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"±{value:.0%}"


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def ratio_to(runs: dict[str, list[dict[str, Any]]], label: str, other: str, key: str) -> float | None:
    """Median over the rounds of run(label) / run(other) taken in the same round (a peer that
    is not the bracketing reference); for latencies pass key "inv_p50" (1 / p50)."""
    ours, theirs = runs.get(label) or [], runs.get(other) or []
    values = [a[key] / b[key] for a, b in zip(ours, theirs, strict=False) if a.get(key) and b.get(key)]
    return median(values) if values else None


def interleave(labels: list[str], rounds: int, run_one: Callable[[str, int], dict[str, Any]],
               reference: str) -> dict[str, list[dict[str, Any]]]:
    """Rounds of [reference, others...], then one closing reference run.

    Every run of the others sits between two reference runs, so drift of the machine over
    minutes cancels in the per-run ratios (see bracket_ratios).
    """
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    others = [label for label in labels if label != reference]
    for index in range(rounds):
        results[reference].append(run_one(reference, index))
        for label in others:
            results[label].append(run_one(label, index))
    if others:
        results[reference].append(run_one(reference, rounds))
    return results


# --------------------------------------------------------------------------- load generators


H2_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout"
)
H2_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
H2_DATA = re.compile(r"\((\d+)\) data")


@dataclass
class LoadResult:
    calls: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    total_ms: float  # sum of the request latencies (for sequential stream calls)
    load_cpu: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class H2Load:
    """h2load (nghttp2) pinned to LOAD_CPU: gRPC calls with a pre-encoded body, or HTTP/1.1 GETs.

    h2load counts any 2xx as success, but a failed gRPC call is a trailers-only answer
    (grpc-status != 0, no DATA): `DATA bytes == succeeded * expected bytes per call` proves
    every counted call carried the expected answer. Same check for the HTTP body.
    """

    name = "h2load"

    def __init__(self, workdir: Path) -> None:
        path = shutil.which("h2load")
        if path is None:
            raise BenchError("h2load not found (apt-get install nghttp2-client)")
        self.path = path
        self.workdir = workdir
        self.log_path = workdir / "h2load.log"
        self._bodies: dict[bytes, Path] = {}

    def _body_file(self, body: bytes) -> Path:
        if body not in self._bodies:
            path = self.workdir / f"body{len(self._bodies)}.bin"
            path.write_bytes(body)
            self._bodies[body] = path
        return self._bodies[body]

    def _run(self, args: list[str], url: str, limit: float, expected_bytes: int | None,
             duration: float | None) -> LoadResult:
        self.log_path.unlink(missing_ok=True)
        command = ["taskset", "-c", str(LOAD_CPU), self.path, *args, f"--log-file={self.log_path}", url]
        cpu_before, started = children_cpu(), time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit, cwd=self.workdir)
        except subprocess.TimeoutExpired:
            raise BenchError(f"h2load did not finish within {limit:.0f}s: {' '.join(command)}") from None
        wall = time.monotonic() - started
        load_cpu = (children_cpu() - cpu_before) / wall
        out = done.stdout + done.stderr
        requests, status, data = H2_REQUESTS.search(out), H2_STATUS.search(out), H2_DATA.search(out)
        if done.returncode != 0 or not (requests and status and data):
            raise BenchError(f"h2load failed ({done.returncode}): {' '.join(command)}\n{out}")
        started_requests = int(requests.group(2))
        succeeded, failed, errored, timeouts = (int(requests.group(i)) for i in (4, 5, 6, 7))
        ok_2xx, data_bytes = int(status.group(1)), int(data.group(1))
        not_2xx = sum(int(status.group(i)) for i in (2, 3, 4))
        # ok_2xx may exceed `succeeded` by answers that landed after the -D deadline.
        if failed or errored or timeouts or not_2xx or ok_2xx < succeeded or succeeded == 0:
            raise BenchError(f"h2load saw errors: {' '.join(command)}\n{out}")
        # With -D, answers that arrive after the deadline add DATA without being counted as done.
        if expected_bytes is not None and not (
            data_bytes % expected_bytes == 0
            and succeeded * expected_bytes <= data_bytes <= max(succeeded, started_requests) * expected_bytes
        ):
            raise BenchError(
                f"h2load received {data_bytes} bytes of DATA for {succeeded} requests, expected {expected_bytes} "
                f"each: some answers were not the expected one\n{out}"
            )
        latencies = []
        for line in self.log_path.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].startswith("2"):
                latencies.append(int(parts[2]) / 1e6)
        total = sum(latencies)
        latencies.sort()
        seconds = duration if duration is not None else wall
        return LoadResult(succeeded, seconds, succeeded / seconds, percentile(latencies, 0.5) * 1000,
                          percentile(latencies, 0.99) * 1000, total * 1000, load_cpu)

    def grpc(self, target: str, method: str, body: bytes, expected_frame: int | None, inflight: int,
             duration: float | None = None, count: int | None = None, conns: int = 1,
             stream: bool = False) -> LoadResult:
        del stream  # h2load reads any answer to its end
        per_conn = max(1, inflight // conns)
        framed = body if isinstance(body, Framed) else grpc_frame(body)
        args = ["-c", str(conns), "-t", "1", "-m", str(per_conn), "-d", str(self._body_file(framed)),
                "-H", "content-type: application/grpc", "-H", "te: trailers"]
        args += ["-D", f"{max(1, round(duration * 1000))}ms"] if duration is not None else ["-n", str(count)]
        limit = (duration or 0) + 60 + (count or 0) / 500
        return self._run(args, f"http://{target}/{method}", limit, expected_frame, duration)

    def http(self, base: str, path: str, expected_body: int | None, conns: int, duration: float | None = None,
             count: int | None = None) -> LoadResult:
        args = ["--h1", "-c", str(conns), "-t", "1"]
        args += ["-D", f"{max(1, round(duration * 1000))}ms"] if duration is not None else ["-n", str(count)]
        limit = (duration or 0) + 60 + (count or 0) / 500
        return self._run(args, f"{base}{path}", limit, expected_body, duration)


class PythonLoad:
    """benchmarks/load.py in a subprocess pinned to LOAD_CPU: the fallback without h2load.

    Much more expensive per call than h2load (it needs most of a CPU to drive one server
    core), so the servers' figures are lower bounds; ratios between servers stay comparable.
    """

    name = "python (benchmarks/load.py)"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def _run(self, args: list[str], limit: float) -> LoadResult:
        command = ["taskset", "-c", str(LOAD_CPU), PYTHON, str(BENCH_DIR / "load.py"), *args]
        cpu_before, started = children_cpu(), time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            raise BenchError(f"load.py did not finish within {limit:.0f}s") from None
        load_cpu = (children_cpu() - cpu_before) / (time.monotonic() - started)
        if done.returncode != 0:
            raise BenchError(f"load.py failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result["errors"] or not result["calls"]:
            raise BenchError(f"load.py saw {result['errors']} errors, {result['calls']} calls")
        return LoadResult(result["calls"], result["seconds"], result["rps"], result["p50_ms"], result["p99_ms"],
                          result["total_ms"], load_cpu)

    def grpc(self, target: str, method: str, body: bytes, expected_frame: int | None, inflight: int,
             duration: float | None = None, count: int | None = None, conns: int = 1,
             stream: bool = False) -> LoadResult:
        if isinstance(body, Framed):
            raise BenchError("client-streaming calls need h2load (apt-get install nghttp2-client)")
        args = [target, f"/{method}", "--body-hex", body.hex(), "--inflight", str(inflight), "--conns", str(conns),
                "--warmup", "0"]
        args += ["--duration", str(duration)] if duration is not None else ["--count", str(count)]
        if stream:
            args.append("--stream")
        return self._run(args, (duration or 0) + 90 + (count or 0) / 200)

    def http(self, base: str, path: str, expected_body: int | None, conns: int, duration: float | None = None,
             count: int | None = None) -> LoadResult:
        args = [base + path, "--http", "--inflight", str(conns), "--warmup", "0"]
        args += ["--duration", str(duration)] if duration is not None else ["--count", str(count)]
        return self._run(args, (duration or 0) + 90 + (count or 0) / 200)


def make_load(client: str, workdir: Path) -> H2Load | PythonLoad:
    if client == "python" or (client == "auto" and shutil.which("h2load") is None):
        return PythonLoad(workdir)
    return H2Load(workdir)
