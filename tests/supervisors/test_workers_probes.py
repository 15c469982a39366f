"""--workers with a probe listener: the supervisor binds it once, every worker serves it."""
import re
import signal

import httpx


def test_workers_share_the_probe_listener(start_server):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--workers", "2", "--probe-address", "127.0.0.1:0",
                          ready=False)
    server.wait_ready()
    port = int(re.search(r"Probes listening on http://127\.0\.0\.1:(\d+)", server.output).group(1))
    assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0
