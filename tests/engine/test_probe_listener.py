"""The probe listener: /healthz and /readyz alone, over plain HTTP, on an address of their own —
what a kubelet `httpGet` probe can reach when the HTTP side requires client certificates."""
import ssl
import subprocess
import threading

import httpx
import pytest

from hybrid_server.lifecycle import State
from hybrid_server.testing import LiveServer
from tests.waiting import wait_until


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    directory = tmp_path_factory.mktemp("probe-tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=probe-ca", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=x",
             cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
             "server.crt", "-days", "2", "-extfile", "san.ext", cwd=directory)
    return directory


def test_probes_answer_without_a_client_certificate(tls, pb):
    options = {
        "http_address": "127.0.0.1:0",
        "probe_address": "127.0.0.1:0",
        "tls_cert_chain_pairs": [(str(tls / "server.key"), str(tls / "server.crt"))],
        "tls_root_certificates": str(tls / "ca.crt"),
        "tls_require_client_auth": True,
        "handlers_hook": "testproject.handlers.grpc_handlers",
    }
    with LiveServer(**options) as server:
        probes = f"http://127.0.0.1:{server.server.probes.port}"
        assert httpx.get(f"{probes}/readyz", timeout=10).status_code == 200
        assert httpx.get(f"{probes}/healthz", timeout=10).text == "ok"
        assert httpx.get(f"{probes}/hello/", timeout=10).status_code == 404  # only the probes here
        verify = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        with pytest.raises((httpx.HTTPError, ssl.SSLError)):  # the HTTP side itself wants a certificate
            httpx.get(f"{server.http_url}/readyz", verify=verify, timeout=10).raise_for_status()


def test_probe_listener_follows_the_drain(pb):
    server = LiveServer(probe_address="127.0.0.1:0", drain_delay=30, handlers_hook="testproject.handlers.grpc_handlers")
    server.start()
    probes = f"http://127.0.0.1:{server.server.probes.port}"
    assert httpx.get(f"{probes}/readyz", timeout=10).status_code == 200
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    wait_until(lambda: server.state is State.DRAINING, "the server draining", timeout=10)
    assert httpx.get(f"{probes}/readyz", timeout=10).status_code == 503  # draining, still answering
    server.server.force()  # skip the rest of the delay
    stopping.join(20)
    assert not stopping.is_alive()
