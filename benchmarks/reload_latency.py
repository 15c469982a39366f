"""Section 7: reload latency of --dev, from a saved file to the first answer carrying the change.

The test project (with its generated protos) is copied to a temporary directory and served
with `grpcrunaioserver 127.0.0.1:0 --with-http 127.0.0.1:0 --dev` (not pinned: the supervisor,
the serving child and the warm standby share both CPUs like on a laptop). Then, `reload_edits`
times: rewrite testapp/services/bench_service.py so Echo answers a new text, and poll Echo
(a fresh channel per attempt, every 10 ms) until the answer carries it; pause; rewrite the
/hello/ view in testproject/urls.py and poll GET /hello/ (a fresh connection per attempt) until
the body carries it; pause. The clock starts when the file is written and closed. Each edit
changes the file's size, so a stale .pyc can never be used.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from common import TESTPROJECT, BenchError, Server, grpc_call, http_get, median, migrated_db, verdict

from hybrid_server.testing.process import ServerGroup

TARGET = 0.5  # s, median
POLL = 0.01
LIMIT = 30.0
ECHO_OLD = "    async def Echo(self, request, context):\n        return _message(message=request.message)\n"
VIEW_OLD = 'return HttpResponse("hello from django")'


def _text(kind: str, index: int) -> str:
    return f"{kind} reload {index} " + "!" * (index + 1)


def _poll(server: Server, since: float, attempt: Any, what: str) -> float:
    while time.monotonic() < since + LIMIT:
        try:
            if attempt():
                return time.monotonic() - since
        except Exception:
            pass
        time.sleep(POLL)
    raise BenchError(f"--dev: no answer with the {what} within {LIMIT:.0f}s:\n{server.output[-3000:]}")


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    grpc_times: list[float] = []
    http_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        project = Path(tmp) / "testproject"
        shutil.copytree(TESTPROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
        env = migrated_db(Path(tmp), project)
        service, urls = project / "testapp" / "services" / "bench_service.py", project / "testproject" / "urls.py"
        echo_source, view_source = service.read_text(), urls.read_text()
        with ServerGroup(ctx.log) as servers:
            server = servers.add(Server.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--dev",
                                               cwd=project, env=env, cpu=None, label="--dev"))
            server.wait_for("Watching for file changes", 10)
            time.sleep(s.reload_pause)  # the warm standby child gets ready
            target, base = server.grpc_target, server.http_url
            for index in range(s.reload_edits):
                text = _text("echo", index)
                new = ECHO_OLD.replace("message=request.message", f"message={text!r}")
                since = _rewrite(service, echo_source, ECHO_OLD, new)
                grpc_times.append(_poll(server, since, lambda text=text: grpc_call(target, "Echo", timeout=1, ready_timeout=1,
                                                                                  message="x").message == text, "new Echo"))
                time.sleep(s.reload_pause)
                text_http = _text("hello", index)
                since = _rewrite(urls, view_source, VIEW_OLD, f"return HttpResponse({text_http!r})")
                http_times.append(_poll(server, since,
                                        lambda text_http=text_http: http_get(base, timeout=2) == (200, text_http.encode()),
                                        "new /hello/"))
                ctx.log(f"  [reload] edit {index + 1}: gRPC {grpc_times[-1]:.3f} s, HTTP {http_times[-1]:.3f} s")
                time.sleep(s.reload_pause)
    rows = [{"traffic": kind, "median_s": median(times), "max_s": max(times), "runs": [round(t, 4) for t in times]}
            for kind, times in (("gRPC (BenchService.Echo edited)", grpc_times), ("HTTP (/hello/ view edited)", http_times))]
    return {"edits": s.reload_edits, "pause_s": s.reload_pause, "rows": rows}


def _rewrite(path: Path, original: str, old: str, new: str) -> float:
    """Write the original source with one edit (each edit starts from the original file)."""
    if old not in original:
        raise BenchError(f"{path}: cannot find {old!r} to edit")
    with path.open("w") as handle:
        handle.write(original.replace(old, new, 1))
    return time.monotonic()


def markdown(result: dict[str, Any]) -> str:
    lines = ["| edit | median s | max s | runs |", "|---|---:|---:|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['traffic']} | {row['median_s']:.3f} | {row['max_s']:.3f} | "
                     f"{', '.join(f'{t:.2f}' for t in row['runs'])} |")
    return "\n".join(lines)


def headline(result: dict[str, Any]) -> str:
    parts = [f"{row['traffic'].split()[0]} {row['median_s']:.3f} s ({verdict(row['median_s'] < TARGET)} < {TARGET} s)"
             for row in result["rows"]]
    return "--dev reload, save → first new answer (median): " + "; ".join(parts)
