"""`make bench`: run the benchmarks, print a Markdown table, write benchmarks/results/latest.json.

    .venv/bin/python benchmarks/run.py [--quick] [--client auto|h2load|python] [--only TEXT]

Environment: BENCH_DURATION (seconds per timed run, default 3), BENCH_RUNS (timed runs per
figure, median reported, default 3), BENCH_WARMUP (seconds, default 1). `--quick` is a
~30 s smoke run (short runs, one run per figure). See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import grpc_unary  # noqa: E402

RESULTS = BENCH_DIR / "results"


def _env_number(name: str, default: float, kind: type = float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a number") from None
    if number <= 0:
        raise SystemExit(f"{name} must be > 0")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the hybrid-server benchmarks.")
    parser.add_argument("--quick", action="store_true", help="~30 s smoke run: 0.5 s runs, one run per figure")
    parser.add_argument("--client", choices=["auto", "h2load", "python"], default="auto",
                        help="load generator (auto: h2load when installed, else benchmarks/load.py)")
    parser.add_argument("--procs", type=int, default=1, help="processes of the python load generator (all on CPU 1)")
    parser.add_argument("--only", default="", help="only scenarios whose 'server|loop|action' contains this")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 CPUs; server and load generator will share one", file=sys.stderr)
    # This process (output readers, checks) stays off the server's CPU.
    try:
        os.sched_setaffinity(0, {grpc_unary.LOAD_CPU})
    except OSError:
        pass

    if args.quick:
        settings = grpc_unary.Settings(duration=0.5, runs=1, warmup=0.3)
    else:
        settings = grpc_unary.Settings(
            duration=_env_number("BENCH_DURATION", 3.0),
            runs=int(_env_number("BENCH_RUNS", 3, int)),
            warmup=_env_number("BENCH_WARMUP", 1.0),
        )
    settings.only = args.only

    started = time.monotonic()
    try:
        results = grpc_unary.run(settings, client=args.client, procs=args.procs,
                                 log=lambda text: print(text, file=sys.stderr, flush=True))
    except grpc_unary.BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["machine"] = {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count()}

    print()
    print(f"## gRPC unary Echo ({results['load_generator']}, median of {settings.runs} × {settings.duration:g} s)")
    print()
    print(grpc_unary.markdown(results))
    print()
    print(grpc_unary.headline(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"grpc_unary": results}, indent=2) + "\n")
    print(f"\nJSON: {args.output}  ({results['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
