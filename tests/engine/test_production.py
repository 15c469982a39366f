"""Production features in-process over loopback: health, reflection, TLS, limits, interceptors.

Each feature is turned on with an `Options` field of a LiveServer, on both backends.
MAXIMUM_CONCURRENT_RPCS is tested in test_concurrency_limit.py, start-up errors of TLS files
that exist but are wrong in test_startup_errors.py.
"""
from __future__ import annotations

import ssl
import subprocess

import anyio
import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from testproject.interceptors import BlockingInterceptor, SyncBlockingInterceptor

from hybrid_server import EXIT_FAILURE, EXIT_FORCED, Options
from hybrid_server.server import HybridServer
from hybrid_server.testing import LiveServer
from tests.engine.support import BACKENDS, DEADLINE, ITEM, PROBE, force, status_of
from tests.waiting import wait_until

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, pb):
    """One read-only server per backend, reflection on."""
    with LiveServer(backend=request.param, reflection=True) as server:
        yield server


def failed_start(capsys, **options) -> tuple[int, str]:
    """Start a HybridServer that must fail in start-up: (exit code, what it wrote on stderr)."""
    server = HybridServer(Options(grpc_address="127.0.0.1:0", banner=False, grace=1.0).replace(**options),
                          install_signal_handlers=False)

    async def serve():
        with anyio.fail_after(DEADLINE):  # a server that starts after all fails the test here
            return await server.serve()

    code = anyio.run(serve, backend="asyncio")
    return code, capsys.readouterr().err


# --------------------------------------------------------------------------- health


def test_health_check_names_every_service(served):
    stub = health_pb2_grpc.HealthStub(served.channel())
    for name in ("", PROBE, ITEM):
        assert stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=DEADLINE).status == SERVING
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=DEADLINE)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_flips_when_draining(pb, backend):
    server = LiveServer(backend=backend, drain_delay=60).start()
    try:
        _watch_the_drain(server)
    finally:
        force(server)  # end the drain delay
        assert server.stop() == EXIT_FORCED


def _watch_the_drain(server: LiveServer) -> None:
    stub = health_pb2_grpc.HealthStub(server.channel())
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=PROBE), timeout=DEADLINE)
    assert next(watch).status == SERVING
    server.server.shutdown("test drain")
    assert next(watch).status == NOT_SERVING
    watch.cancel()
    assert stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE).status == NOT_SERVING
    assert stub.Check(health_pb2.HealthCheckRequest(service=PROBE), timeout=DEADLINE).status == NOT_SERVING


# --------------------------------------------------------------------------- reflection


def test_reflection_lists_describes_and_calls(served):
    from google.protobuf import descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    channel = served.channel()
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {PROBE, ITEM, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services

    pool = descriptor_pool.DescriptorPool(database)
    method = pool.FindServiceByName(PROBE).methods_by_name["Echo"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    assert [f.name for f in method.input_type.fields] == ["message", "count", "seconds", "thread"]
    call = channel.unary_unary(
        f"/{PROBE}/Echo", request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString,
    )
    assert call(request_class(message="reflected"), timeout=DEADLINE).message == "reflected"


def test_reflection_is_off_by_default(live, backend):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    server = live(backend=backend)
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel())
    with pytest.raises(grpc.RpcError) as info:
        list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    directory = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=test-ca", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("client", "test-client")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                 cwd=directory)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", *extra, cwd=directory)
    return directory


def _tls(tls_dir, mutual: bool = False) -> dict:
    options = {"tls_cert_chain_pairs": [(str(tls_dir / "server.key"), str(tls_dir / "server.crt"))]}
    if mutual:
        options.update(tls_root_certificates=str(tls_dir / "ca.crt"), tls_require_client_auth=True)
    return options


def test_tls_for_grpc_and_http(live, backend, tls_dir, pb, capsys):
    pb2, pb_grpc = pb
    server = live(backend=backend, http_address="127.0.0.1:0", banner=True, **_tls(tls_dir))
    out = _banner(capsys)
    assert f"gRPC server listening on 127.0.0.1:{server.grpc_port} (TLS)" in out
    assert f"HTTP server listening on https://127.0.0.1:{server.http_port}" in out
    credentials = grpc.ssl_channel_credentials(root_certificates=(tls_dir / "ca.crt").read_bytes())
    with grpc.secure_channel(server.grpc_target, credentials) as channel:
        stub = pb_grpc.ProbeServiceControllerStub(channel)
        assert stub.Echo(pb2.ProbeMessage(message="secure"), timeout=DEADLINE).message == "secure"
    plain = pb_grpc.ProbeServiceControllerStub(server.channel())
    assert status_of(lambda: plain.Echo(pb2.ProbeMessage(message="x"), timeout=DEADLINE)) == grpc.StatusCode.UNAVAILABLE
    context = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    assert server.http_url.startswith("https://")
    assert httpx.get(f"{server.http_url}/hello/", verify=context, timeout=DEADLINE).text == "hello from django"


def _banner(capsys) -> str:
    """The banner, printed just after the server reports SERVING: wait for its last line."""
    out = [""]

    def read() -> bool:
        out[0] += capsys.readouterr().out
        return "Quit with CONTROL-C." in out[0]

    wait_until(read, "the banner", timeout=DEADLINE, interval=0.005)
    return out[0]


@pytest.fixture(scope="module", params=BACKENDS)
def mutual(request, tls_dir, pb):
    with LiveServer(backend=request.param, http_address="127.0.0.1:0", **_tls(tls_dir, mutual=True)) as server:
        yield server


def test_mutual_tls(mutual, tls_dir, pb):
    pb2, pb_grpc = pb
    root = (tls_dir / "ca.crt").read_bytes()
    with_cert = grpc.ssl_channel_credentials(root, (tls_dir / "client.key").read_bytes(), (tls_dir / "client.crt").read_bytes())
    with grpc.secure_channel(mutual.grpc_target, with_cert) as channel:
        assert pb_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="m"), timeout=DEADLINE).message == "m"
    with grpc.secure_channel(mutual.grpc_target, grpc.ssl_channel_credentials(root)) as channel:
        stub = pb_grpc.ProbeServiceControllerStub(channel)
        assert status_of(lambda: stub.Echo(pb2.ProbeMessage(message="m"), timeout=DEADLINE)) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_covers_http(mutual, tls_dir):
    url = f"{mutual.http_url}/hello/"
    anonymous = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, verify=anonymous, timeout=DEADLINE)
    with_cert = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    with_cert.load_cert_chain(str(tls_dir / "client.crt"), str(tls_dir / "client.key"))
    assert httpx.get(url, verify=with_cert, timeout=DEADLINE).text == "hello from django"


@pytest.mark.parametrize(
    "files, message",
    [
        ({"tls_cert_chain_pairs": [("{tmp}/server.key", "{tmp}/server.crt")]}, "cannot read TLS private key '{tmp}/server.key'"),
        ({"tls_cert_chain_pairs": [("{tls}/server.key", "{tmp}/server.crt")]},
         "cannot read TLS certificate chain '{tmp}/server.crt'"),
        ({"tls_cert_chain_pairs": [("{tls}/server.key", "{tls}/server.crt")], "tls_root_certificates": "{tmp}/ca.crt"},
         "cannot read TLS root certificates '{tmp}/ca.crt'"),
        ({"tls_cert_chain_pairs": [("{tls}/server.key", "{tls}/server.crt")], "tls_require_client_auth": True},
         "REQUIRE_CLIENT_AUTH needs ROOT_CERTIFICATES_PATH"),
    ],
)
def test_missing_certificate_is_named(tmp_path, tls_dir, pb, capsys, files, message):
    def fill(value):
        if isinstance(value, str):
            return value.format(tmp=tmp_path, tls=tls_dir)
        if isinstance(value, list):
            return [tuple(fill(part) for part in pair) for pair in value]
        return value

    code, err = failed_start(capsys, **{key: fill(value) for key, value in files.items()})
    assert code == EXIT_FAILURE
    assert f"Error: {fill(message)}" in err.splitlines()[-1]


# --------------------------------------------------------------------------- limits


def test_oversize_message_is_refused_without_harm(served, pb):
    pb2, pb_grpc = pb
    stub = pb_grpc.ProbeServiceControllerStub(served.channel())
    too_big = pb2.ProbeMessage(message="x" * (5 * 1024 * 1024))  # grpc's default limit is 4 MiB
    assert status_of(lambda: stub.Echo(too_big, timeout=DEADLINE)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Echo(pb2.ProbeMessage(message="small"), timeout=DEADLINE).message == "small"


# --------------------------------------------------------------------------- interceptors


def test_interceptors_see_every_call(live, backend, pb):
    pb2, pb_grpc = pb
    interceptor = BlockingInterceptor() if backend == "aio" else SyncBlockingInterceptor()
    server = live(backend=backend, interceptors=[interceptor])
    stub = pb_grpc.ProbeServiceControllerStub(server.channel())
    assert stub.Echo(pb2.ProbeMessage(message="ok"), timeout=DEADLINE).message == "ok"
    for action in ("Echo", "SyncEcho", "DbAsync"):
        with pytest.raises(grpc.RpcError) as info:
            getattr(stub, action)(pb2.ProbeMessage(message="no"), metadata=[("x-block", "1")], timeout=DEADLINE)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert info.value.details() == "blocked by interceptor"
    health = health_pb2_grpc.HealthStub(server.channel())
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(), metadata=[("x-block", "1")], timeout=DEADLINE)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED  # the engine's services too


@pytest.mark.parametrize(
    "backend, interceptor, expected",
    [
        ("threads", BlockingInterceptor, "is not a grpc.ServerInterceptor, which the threads server needs"),
        ("aio", SyncBlockingInterceptor, "is not a grpc.aio.ServerInterceptor, which the aio server needs"),
    ],
)
def test_wrong_interceptor_kind_is_a_clear_error(pb, capsys, backend, interceptor, expected):
    code, err = failed_start(capsys, backend=backend, interceptors=[interceptor()])
    assert code == EXIT_FAILURE
    (line,) = err.splitlines()
    assert line.startswith("Error: SERVER_INTERCEPTORS: ") and line.endswith(expected)
