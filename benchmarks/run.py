"""`make bench`: run the benchmark sections, print a Markdown table per section, write JSON.

    .venv/bin/python benchmarks/run.py [--quick] [--only SECTION[,SECTION...]] [--filter TEXT]
                                       [--client auto|h2load|python] [--output PATH] [--no-docs]

Sections: unary, stream, http, blocking, startup, workers, reload, memory, connect, scale, slowreader (see
benchmarks/README.md). A full run takes ~15 minutes, `--quick` ~3 minutes (one short round per
figure: a smoke test, not figures to quote). Results go to benchmarks/results/latest.json
(rewritten after every section, so an interrupted run keeps what it measured), the tables also
to latest.md. A run without --quick also (re)writes docs/benchmarks.md: the headline block
(each goal, its figure, met or missed) and every section's tables, the sections of this run
replacing those of earlier runs kept in benchmarks/results/docs-sections.json. Progress goes to
stderr.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import common  # noqa: E402

import docs  # noqa: E402
from hybrid_server.testing.process import ServerProcessError, stop_all  # noqa: E402

RESULTS = BENCH_DIR / "results"


@dataclass
class Settings:
    warmup: float = 0.5
    # Many short runs rather than a few long ones: on a shared machine a run's own ratio to the
    # reference runs around it strays by ±8%, so the median needs a dozen of them to settle within ~2%.
    unary_duration: float = 1.5  # s per run at 64 in flight
    unary_rounds: int = 12
    latency_duration: float = 1.0  # s per run at 1 in flight
    latency_rounds: int = 9
    stream_count: int = 20000  # messages per streaming call (server, client, bidi)
    stream_calls: int = 2  # sequential calls per run
    stream_rounds: int = 7
    http_duration: float = 2.0
    http_rounds: int = 5
    http_conns: int = 16
    block_workers: tuple[int, ...] = (1, 4, 8)
    block_runs: int = 3
    startup_runs: int = 11  # a start wanders by +-15% on a 2-core machine; 5 left the median +-5% off
    rss_runs: int = 2
    rss_grpc_calls: int = 20000  # Echo calls before reading VmRSS
    rss_http_calls: int = 4000  # GET /hello/ before reading VmRSS (Django's HTTP path is ~5x slower)
    workers_duration: float = 2.0
    workers_rounds: int = 4
    workers_grpc_conns: int = 16
    workers_http_conns: int = 32
    reload_edits: int = 7
    reload_pause: float = 1.0
    memory_warmup: int = 5000  # RPCs before the baseline RSS
    memory_calls: int = 45000  # RPCs after it
    scale_duration: float = 1.5  # s per unary run in the scale section
    scale_rounds: int = 3
    scale_stream_count: int = 100000  # messages per streaming call there


QUICK = Settings(warmup=0.2, unary_duration=0.5, unary_rounds=1, latency_duration=0.5, latency_rounds=1,
                 stream_count=10000, stream_calls=1, stream_rounds=1, http_duration=0.5, http_rounds=1,
                 block_workers=(1, 8), block_runs=1, startup_runs=1, rss_runs=1, rss_grpc_calls=5000, rss_http_calls=1000,
                 workers_duration=0.5, workers_rounds=1, reload_edits=2, reload_pause=0.8,
                 memory_warmup=1000, memory_calls=9000, scale_duration=0.4, scale_rounds=1,
                 scale_stream_count=20000)


@dataclass
class Context:
    settings: Settings
    load: Any
    env: dict[str, str]
    workdir: Path
    filter: str
    log: Callable[[str], None]


def _sections() -> dict[str, tuple[str, Any]]:
    import blocking
    import connect_unary
    import grpc_stream
    import grpc_unary
    import http_rps
    import memory
    import reload_latency
    import scale
    import slow_reader
    import startup
    import workers

    return {
        "unary": ("1. gRPC unary Echo: RPS and latency", grpc_unary),
        "stream": ("2. gRPC server streaming: messages/s", grpc_stream),
        "http": ("3. HTTP GET /hello/: hybrid vs plain uvicorn", http_rps),
        "blocking": ("4. Blocking sync work: 8 x Block(0.5 s)", blocking),
        "startup": ("5. Start-up to the first answer, and memory", startup),
        "workers": ("6. --workers 2 vs 1 (not pinned)", workers),
        "reload": ("7. --dev reload latency", reload_latency),
        "memory": ("8. Memory over sustained RPCs", memory),
        "connect": ("9. Connect unary over HTTP: hybrid vs connectrpc's generated app", connect_unary),
        "scale": ("10. Cost as the work grows: ratios to raw grpc.aio, and the peer", scale),
        "slowreader": ("11. gRPC port: memory per connection when the client never reads", slow_reader),
    }


def host_busy(seconds: float = 0.5) -> float:
    """Share of all CPUs busy during `seconds` while nothing of ours runs (other users' load)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


def main(argv: list[str] | None = None) -> int:
    sections = _sections()
    parser = argparse.ArgumentParser(description="Run the hybrid-server benchmarks.")
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run: one short round per figure")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {','.join(sections)}")
    parser.add_argument("--filter", default="", help="unary: only our rows whose label contains TEXT "
                        "(aio-asyncio, aio-uvloop, runserver-Echo, runserver-SyncEcho)")
    parser.add_argument("--client", choices=["auto", "h2load", "python"], default="auto",
                        help="load generator (auto: h2load when installed, else benchmarks/load.py)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md (full runs do)")
    parser.add_argument("--docs-only", action="store_true",
                        help="measure nothing: rewrite docs/benchmarks.md from the sections kept by earlier runs")
    args = parser.parse_args(argv)
    if args.docs_only:
        print(docs.update({"sections": {}}, sections))
        return 0
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(sections)
    unknown = [name for name in chosen if name not in sections]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {','.join(sections)}")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if (os.cpu_count() or 1) < 2:
        log("warning: fewer than 2 CPUs; servers and load generator will share one")
    if shutil.which("taskset") is None:
        log("error: taskset (util-linux) is needed to pin servers and load generator")
        return 2
    try:  # this process (checks, polling clients) stays off the servers' CPU
        os.sched_setaffinity(0, {common.LOAD_CPU})
    except OSError:
        pass
    common.install_signal_handlers()
    # Servers run with their bytecode cached, as deployed: a shell's PYTHONDONTWRITEBYTECODE
    # would make every start compile the project's modules again (section 5 measures starts).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    settings = QUICK if args.quick else Settings()
    started = time.monotonic()
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_at_start": os.getloadavg()},
        "settings": asdict(settings),
        "server_cpu": common.SERVER_CPU, "load_cpu": common.LOAD_CPU,
        "sections": {},
    }
    markdown_out: list[str] = []
    code = 0
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            workdir = Path(tmp)
            common.ensure_protos(log)
            env = common.migrated_db(workdir)
            load = common.make_load(args.client, workdir)
            report["load_generator"] = load.name
            if load.name != "h2load":
                common.CPU_FILTER = False
                log("note: h2load not used; the Python load generator (benchmarks/load.py) is much slower "
                    "per request, so the servers' figures are lower bounds (ratios stay meaningful)")
            log(f"load generator: {load.name} on CPU {common.LOAD_CPU}; servers on CPU {common.SERVER_CPU}")
            ctx = Context(settings, load, env, workdir, args.filter, log)
            for name in chosen:
                title, module = sections[name]
                busy = host_busy()
                log(f"== {title} (host busy before: {busy:.0%})")
                if busy > docs.BUSY_SHARE:  # the share docs/benchmarks.md flags as disturbed
                    log(f"   warning: the host is {busy:.0%} busy with other work; figures may be disturbed")
                section_started = time.monotonic()
                result = module.run(ctx)
                result["title"] = title
                result["host_busy_before"] = round(busy, 3)
                result["elapsed_s"] = round(time.monotonic() - section_started, 1)
                report["sections"][name] = result
                text = f"## {title}\n\n{module.markdown(result)}\n"
                if hasattr(module, "headline"):
                    text += f"\n{module.headline(result)}\n"
                markdown_out.append(text)
                print(text, flush=True)
                _write(args.output, report, started)
                args.output.with_suffix(".md").write_text("\n".join(markdown_out))
    except (common.BenchError, ServerProcessError) as exc:
        log(f"benchmark failed: {exc}")
        code = 1
    except KeyboardInterrupt:
        log("interrupted; every server stopped")
        code = 130
    finally:
        stop_all()
    report["complete"] = code == 0
    _write(args.output, report, started)
    if not args.quick and not args.no_docs and report["sections"]:
        path = docs.update(report, sections)
        log(f"docs: {path}")
    log(f"JSON: {args.output}  ({time.monotonic() - started:.0f} s)")
    return code


def _write(path: Path, report: dict[str, Any], started: float) -> None:
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
