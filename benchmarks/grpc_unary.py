"""Unary Echo over gRPC: raw grpc.aio against grpcrunaioserver and grpcrunserver.

Each server runs in its own subprocess (own session) pinned to CPU 0; the load generator
(h2load when installed, else benchmarks/load.py) runs pinned to CPU 1. For every
(server, in-flight) pair: one real stub call checks the answer, a warm-up run, then
`runs` timed runs; the figure is the median of the runs. See benchmarks/README.md.
"""
from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
TESTPROJECT = ROOT / "tests" / "testproject"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(TESTPROJECT))

from tests.procs import ServerProcess  # noqa: E402

SERVER_CPU = 0
LOAD_CPU = 1
SERVICE = "testproject.testapp.ProbeServiceController"
MESSAGE = "hello"
INFLIGHT = (64, 1)
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A figure that cannot be trusted: wrong answer, errors under load, a missing tool."""


@dataclass(frozen=True)
class Scenario:
    server: str  # label in the table
    loop: str  # asyncio / uvloop / threads
    action: str  # Echo / SyncEcho
    args: tuple[str, ...]  # command after the python interpreter
    cwd: Path
    reference: str  # the `loop` of the raw row this one is compared with

    @property
    def key(self) -> str:
        return f"{self.server}|{self.loop}|{self.action}"


def scenarios() -> list[Scenario]:
    raw = str(BENCH_DIR / "raw_server.py")
    return [
        Scenario("raw grpc.aio", "asyncio", "Echo", (raw, "127.0.0.1:0"), ROOT, "asyncio"),
        Scenario("raw grpc.aio", "uvloop", "Echo", (raw, "127.0.0.1:0", "--uvloop"), ROOT, "uvloop"),
        Scenario("grpcrunaioserver", "asyncio", "Echo",
                 ("manage.py", "grpcrunaioserver", "127.0.0.1:0", "--loop", "asyncio"), TESTPROJECT, "asyncio"),
        Scenario("grpcrunaioserver", "uvloop", "Echo",
                 ("manage.py", "grpcrunaioserver", "127.0.0.1:0", "--loop", "uvloop"), TESTPROJECT, "uvloop"),
        Scenario("grpcrunserver", "threads", "Echo",
                 ("manage.py", "grpcrunserver", "127.0.0.1:0"), TESTPROJECT, "asyncio"),
        Scenario("grpcrunserver", "threads", "SyncEcho",
                 ("manage.py", "grpcrunserver", "127.0.0.1:0"), TESTPROJECT, "asyncio"),
    ]


# --------------------------------------------------------------------------- helpers


def pb2() -> Any:
    from testapp.grpc import testapp_pb2

    return testapp_pb2


def request_bytes() -> bytes:
    return pb2().ProbeMessage(message=MESSAGE).SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """The gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def check_call(target: str, action: str) -> int:
    """One real stub call; returns the size of the framed response (what h2load must receive)."""
    import grpc
    from testapp.grpc import testapp_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
        stub = testapp_pb2_grpc.ProbeServiceControllerStub(channel)
        response = getattr(stub, action)(pb2().ProbeMessage(message=MESSAGE), timeout=10)
    if response.message != MESSAGE:
        raise BenchError(f"{action} answered {response!r}, expected message={MESSAGE!r}")
    return len(grpc_frame(response.SerializeToString()))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a whole process (all its threads) from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


# --------------------------------------------------------------------------- load generators


H2_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout"
)
H2_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
H2_DATA = re.compile(r"\((\d+)\) data")


class H2Load:
    """h2load with a pre-encoded gRPC body; answers are checked by the bytes received.

    h2load counts any HTTP 200 as success, but a failed gRPC call is a trailers-only
    answer (grpc-status != 0, no DATA), so `data bytes == succeeded * framed response
    size` proves every counted call carried the expected message.
    """

    name = "h2load"

    def __init__(self, workdir: Path) -> None:
        self.path = shutil.which("h2load")
        if self.path is None:
            raise BenchError("h2load not found (apt-get install nghttp2-client)")
        self.body = workdir / "request.bin"
        self.body.write_bytes(grpc_frame(request_bytes()))
        self.log = workdir / "h2load.log"

    def command(self, url: str, inflight: int, duration: float | None, count: int | None) -> list[str]:
        command = ["taskset", "-c", str(LOAD_CPU), self.path, "-c", "1", "-t", "1", "-m", str(inflight),
                   "-d", str(self.body), "-H", "content-type: application/grpc", "-H", "te: trailers",
                   f"--log-file={self.log}"]
        command += ["-D", f"{max(1, round(duration * 1000))}ms"] if duration is not None else ["-n", str(count)]
        return [*command, url]

    def run(self, target: str, action: str, inflight: int, duration: float | None, expected_frame: int,
            count: int | None = None) -> dict[str, Any]:
        url = f"http://{target}/{SERVICE}/{action}"
        self.log.unlink(missing_ok=True)
        limit = (duration or 10) + 30
        try:
            done = subprocess.run(self.command(url, inflight, duration, count), capture_output=True, text=True,
                                  timeout=limit, cwd=self.log.parent)
        except subprocess.TimeoutExpired:
            raise BenchError(f"h2load did not finish within {limit}s") from None
        out = done.stdout + done.stderr
        requests, status, data = H2_REQUESTS.search(out), H2_STATUS.search(out), H2_DATA.search(out)
        if done.returncode != 0 or not (requests and status and data):
            raise BenchError(f"h2load failed ({done.returncode}):\n{out}")
        succeeded, failed, errored, timeouts = (int(requests.group(i)) for i in (4, 5, 6, 7))
        ok_2xx, data_bytes = int(status.group(1)), int(data.group(1))
        if failed or errored or timeouts or ok_2xx != succeeded or succeeded == 0:
            raise BenchError(f"h2load saw errors:\n{out}")
        if data_bytes != succeeded * expected_frame:
            raise BenchError(
                f"h2load received {data_bytes} bytes of DATA for {succeeded} calls, expected {expected_frame} each: "
                f"some calls did not end with a response message (grpc-status != 0?)\n{out}"
            )
        latencies = []
        for line in self.log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] == "200":
                latencies.append(int(parts[2]) / 1e6)
        latencies.sort()
        seconds = duration if duration is not None else float("nan")
        return {
            "calls": succeeded,
            "rps": succeeded / seconds,
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
        }


class PythonLoad:
    """benchmarks/load.py in a subprocess pinned to the load CPU (fallback, or `--client python`)."""

    name = "python"

    def __init__(self, workdir: Path, procs: int = 1) -> None:
        self.procs = procs
        self.body_hex = request_bytes().hex()

    def run(self, target: str, action: str, inflight: int, duration: float | None, expected_frame: int,
            count: int | None = None) -> dict[str, Any]:
        import json

        duration = duration or 1.0
        command = ["taskset", "-c", str(LOAD_CPU), sys.executable, str(BENCH_DIR / "load.py"), target,
                   f"/{SERVICE}/{action}", "--body-hex", self.body_hex, "--inflight", str(inflight),
                   "--duration", str(duration), "--warmup", "0.2", "--procs", str(self.procs)]
        limit = duration + 90
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            raise BenchError(f"load.py did not finish within {limit}s") from None
        if done.returncode != 0:
            raise BenchError(f"load.py failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result["errors"] or not result["calls"]:
            raise BenchError(f"load.py saw {result['errors']} errors, {result['calls']} calls")
        return result


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Settings:
    duration: float = 3.0
    runs: int = 3
    warmup: float = 1.0
    inflight: tuple[int, ...] = INFLIGHT
    only: str = ""  # substring filter on Scenario.key


@dataclass
class Figure:
    scenario: Scenario
    inflight: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.scenario.server, "loop": self.scenario.loop, "action": self.scenario.action,
            "inflight": self.inflight, "rps": self.median("rps"), "p50_ms": self.median("p50_ms"),
            "p99_ms": self.median("p99_ms"), "server_cpu": self.median("server_cpu"),
            "load_cpu": self.median("load_cpu"), "runs": self.runs,
        }


def start_server(scenario: Scenario, env: dict[str, str]) -> ServerProcess:
    """The server under test on SERVER_CPU; `taskset` execs, so proc.pid is the server's pid."""
    server = ServerProcess(["taskset", "-c", str(SERVER_CPU), sys.executable, *scenario.args], cwd=scenario.cwd,
                           env=env)
    server.start()
    server.wait_ready(timeout=60)
    return server


def measure(scenario: Scenario, load: Any, settings: Settings, env: dict[str, str],
            log: Callable[[str], None]) -> list[Figure]:
    figures = []
    server = start_server(scenario, env)
    try:
        assert server.proc is not None
        pid = server.proc.pid
        expected = check_call(server.grpc_target, scenario.action)
        for inflight in settings.inflight:
            figure = Figure(scenario, inflight)
            load.run(server.grpc_target, scenario.action, inflight, settings.warmup, expected)  # warm-up
            for index in range(settings.runs):
                server_before, load_before, started = cpu_seconds(pid), children_cpu(), time.monotonic()
                result = load.run(server.grpc_target, scenario.action, inflight, settings.duration, expected)
                wall = time.monotonic() - started
                result["server_cpu"] = (cpu_seconds(pid) - server_before) / wall
                result["load_cpu"] = (children_cpu() - load_before) / wall
                figure.runs.append(result)
                log(f"  {scenario.server} {scenario.loop} {scenario.action} x{inflight} run {index + 1}: "
                    f"{result['rps']:.0f} rps, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                    f"server cpu {result['server_cpu']:.0%}, load cpu {result['load_cpu']:.0%}")
            figures.append(figure)
        check_call(server.grpc_target, scenario.action)  # still answering correctly after the load
    except BaseException:
        log(f"server output:\n{server.output[-3000:]}")
        raise
    finally:
        server.stop()
    return figures


def prepare_testproject(workdir: Path, log: Callable[[str], None]) -> dict[str, str]:
    """Generated stubs present, a throw-away migrated DB; returns the servers' environment."""
    if not (TESTPROJECT / "testapp" / "grpc" / "testapp_pb2_grpc.py").exists():
        log("generating the test project's protos (manage.py generateproto)")
        subprocess.run([sys.executable, "manage.py", "generateproto"], cwd=TESTPROJECT, check=True, timeout=120,
                       env=_manage_env({}))
    env = {"TESTPROJECT_DB": str(workdir / "bench.sqlite3")}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=TESTPROJECT, check=True,
                   timeout=120, env=_manage_env(env))
    return env


def _manage_env(extra: dict[str, str]) -> dict[str, str]:
    from tests.procs import clean_environ

    return {**clean_environ(), **extra}


def make_load(client: str, workdir: Path, procs: int) -> Any:
    if client == "python" or (client == "auto" and shutil.which("h2load") is None):
        return PythonLoad(workdir, procs)
    return H2Load(workdir)


def run(settings: Settings, client: str = "auto", procs: int = 1,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """All scenarios; returns the JSON-able results (figures and the ratios to raw)."""
    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        workdir = Path(tmp)
        env = prepare_testproject(workdir, log)
        load = make_load(client, workdir, procs)
        log(f"load generator: {load.name} on CPU {LOAD_CPU}; servers on CPU {SERVER_CPU}")
        figures: list[Figure] = []
        for scenario in scenarios():
            if settings.only and settings.only not in scenario.key:
                continue
            log(f"{scenario.server} ({scenario.loop}, {scenario.action})")
            figures.extend(measure(scenario, load, settings, env, log))
    rows = [figure.as_dict() for figure in figures]
    raw = {(row["loop"], row["inflight"]): row["rps"] for row in rows if row["server"] == "raw grpc.aio"}
    for figure, row in zip(figures, rows):
        reference = raw.get((figure.scenario.reference, figure.inflight))
        row["reference"] = f"raw grpc.aio {figure.scenario.reference}"
        row["ratio"] = row["rps"] / reference if reference else None
    return {
        "benchmark": "grpc_unary",
        "load_generator": load.name,
        "server_cpu": SERVER_CPU,
        "load_cpu": LOAD_CPU,
        "message": MESSAGE,
        "duration_s": settings.duration,
        "runs": settings.runs,
        "warmup_s": settings.warmup,
        "rows": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| server | loop | action | in-flight | RPS | RPS spread | p50 ms | p99 ms | × raw (same loop) | server CPU | load CPU |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}"
        if row["server"] != "raw grpc.aio" and row["loop"] == "threads" and row["ratio"] is not None:
            ratio += " (vs asyncio)"
        lines.append(
            f"| {row['server']} | {row['loop']} | {row['action']} | {row['inflight']} | {row['rps']:,.0f} | "
            f"{_spread(row)} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {ratio} | {row['server_cpu']:.0%} | {row['load_cpu']:.0%} |"
        )
    return "\n".join(lines)


def _spread(row: dict[str, Any]) -> str:
    """Half the range of the runs' RPS, relative to the median: how far apart the runs were."""
    values = [run["rps"] for run in row["runs"]]
    if len(values) < 2 or not row["rps"]:
        return "—"
    return f"±{(max(values) - min(values)) / 2 / row['rps']:.0%}"


def headline(results: dict[str, Any]) -> str:
    parts = []
    for row in results["rows"]:
        if row["server"] == "grpcrunaioserver" and row["inflight"] == 64 and row["ratio"] is not None:
            verdict = "meets" if row["ratio"] >= 0.90 else "BELOW"
            parts.append(f"{row['loop']} {row['ratio']:.2f}× ({verdict} the 0.90 target)")
    return "grpcrunaioserver / raw grpc.aio, 64 in flight: " + ("; ".join(parts) or "not measured")
