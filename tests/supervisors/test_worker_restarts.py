"""--workers: a restart that fails is retried while the other workers serve; a forced stop is 130."""
import os
import re
import signal
import time

import grpc

from hybrid_server.lifecycle import EXIT_FORCED


def _wait_count(server, pattern: str, count: int, timeout: float = 60.0) -> list[str]:
    """Wait until `pattern` has appeared `count` times in the output (or fail)."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = regex.findall(server.output)
        if len(found) >= count:
            return found
        assert server.proc.poll() is None, f"exited ({server.proc.returncode}):\n{server.output}"
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not seen {count} times:\n{server.output}")


def test_a_failing_restart_is_retried_while_the_others_serve(start_server, pb, tmp_path):
    pb2, pb2_grpc = pb
    marker = tmp_path / "fail"
    server = start_server(
        "grpcrunaioserver", "127.0.0.1:0", "--workers", "2",
        env={"TESTPROJECT_HOOK": "testproject.handlers.flaky_handlers", "TESTPROJECT_FAIL_MARKER": str(marker)},
    )
    _wait_count(server, r"Quit with CONTROL-C", 1)  # the supervisor's banner: both workers serve
    pids = [int(pid) for pid in re.search(r"pids (\d+), (\d+)", server.output).groups()]
    marker.write_text("")
    os.kill(pids[0], signal.SIGKILL)
    # The replacement dies during its start-up: the supervisor says so and tries again.
    _wait_count(server, r"exited with code 1 after [\d.]+s; restarting", 1)
    assert server.proc.poll() is None
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = pb2_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="still"), timeout=10)
    assert reply.message == "still"
    marker.unlink()
    _wait_count(server, r"Worker \d+ is serving\.", 1)  # the slot serves again
    server.signal(signal.SIGTERM)
    assert server.wait(60) == 0


def test_second_sigint_while_workers_drain_exits_130(start_server):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--workers", "2", "--drain-delay", "60")
    _wait_count(server, r"Quit with CONTROL-C", 1)
    server.signal(signal.SIGTERM)
    _wait_count(server, r"Supervisor received SIGTERM: stopping 2 workers", 1)
    server.signal(signal.SIGINT)
    assert server.wait(30) == EXIT_FORCED, server.output
