"""Production features over loopback: health, reflection, TLS, limits, interceptors."""
from __future__ import annotations

import concurrent.futures
import signal
import ssl
import subprocess
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

COMMANDS = ["grpcrunaioserver", "grpcrunserver"]
PROBE = "testproject.testapp.ProbeServiceController"


@pytest.fixture(params=COMMANDS)
def command(request):
    return request.param


# --------------------------------------------------------------------------- health


def test_health_before_and_during_drain(start_server, command, channel_to):
    server = start_server(command, "127.0.0.1:0", "--drain-delay", "2")
    stub = health_pb2_grpc.HealthStub(channel_to(server))
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", PROBE, "testproject.testapp.ItemController"):
        assert stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == serving
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    watch = stub.Watch(health_pb2.HealthCheckRequest(service=PROBE), timeout=10)
    assert next(watch).status == serving
    server.signal(signal.SIGTERM)
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()
    status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert server.wait(20) == 0


# --------------------------------------------------------------------------- reflection


def test_reflection_lists_describes_and_calls(start_server, command, channel_to):
    from google.protobuf import descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    server = start_server(command, "127.0.0.1:0", "--reflection")
    channel = channel_to(server)
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {PROBE, "testproject.testapp.ItemController", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services

    pool = descriptor_pool.DescriptorPool(database)
    method = pool.FindServiceByName(PROBE).methods_by_name["Echo"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    assert [f.name for f in method.input_type.fields] == ["message", "count", "seconds", "thread"]
    call = channel.unary_unary(
        f"/{PROBE}/Echo", request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString,
    )
    assert call(request_class(message="reflected"), timeout=10).message == "reflected"


def test_reflection_is_off_by_default(start_server, channel_to):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    server = start_server("grpcrunaioserver", "127.0.0.1:0")
    stub = reflection_pb2_grpc.ServerReflectionStub(channel_to(server))
    with pytest.raises(grpc.RpcError) as info:
        list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    directory = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("client", "test-client")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=directory)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *extra, cwd=directory)
    return directory


def test_tls_for_grpc_and_http(start_server, command, tls_dir, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0", env={"TESTPROJECT_TLS_DIR": str(tls_dir)})
    assert "(TLS)" in server.output and "https://127.0.0.1" in server.output
    credentials = grpc.ssl_channel_credentials(root_certificates=(tls_dir / "ca.crt").read_bytes())
    with grpc.secure_channel(server.grpc_target, credentials) as channel:
        stub = pb_grpc.ProbeServiceControllerStub(channel)
        assert stub.Echo(pb2.ProbeMessage(message="secure"), timeout=10).message == "secure"
    with grpc.insecure_channel(server.grpc_target) as plain:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.ProbeServiceControllerStub(plain).Echo(pb2.ProbeMessage(message="x"), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    context = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    response = httpx.get(f"https://127.0.0.1:{server.http_port}/hello/", verify=context, timeout=10)
    assert response.text == "hello from django"


def test_mutual_tls(start_server, command, tls_dir, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", env={"TESTPROJECT_TLS_DIR": str(tls_dir), "TESTPROJECT_MTLS": "1"})
    root = (tls_dir / "ca.crt").read_bytes()
    with_cert = grpc.ssl_channel_credentials(root, (tls_dir / "client.key").read_bytes(), (tls_dir / "client.crt").read_bytes())
    with grpc.secure_channel(server.grpc_target, with_cert) as channel:
        assert pb_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="m"), timeout=10).message == "m"
    with grpc.secure_channel(server.grpc_target, grpc.ssl_channel_credentials(root)) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.ProbeServiceControllerStub(channel).Echo(pb2.ProbeMessage(message="m"), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_missing_certificate_is_named(start_server, tmp_path):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", ready=False, env={"TESTPROJECT_TLS_DIR": str(tmp_path)})
    assert server.wait(30) == 1
    assert f"cannot read TLS private key '{tmp_path / 'server.key'}'" in server.output


# --------------------------------------------------------------------------- limits


def test_oversize_message_is_refused_without_harm(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0")
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    with pytest.raises(grpc.RpcError) as info:
        stub.Echo(pb2.ProbeMessage(message="x" * (5 * 1024 * 1024)), timeout=20)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Echo(pb2.ProbeMessage(message="small"), timeout=10).message == "small"


def test_maximum_concurrent_rpcs_sheds_load(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", env={"TESTPROJECT_MAX_RPCS": "2"})
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(stub.AsyncSleep, pb2.ProbeMessage(seconds=1.0), timeout=10) for _ in range(6)]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result().message)
            except grpc.RpcError as error:
                outcomes.append(error.code())
    assert outcomes.count("slept") >= 1
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in outcomes
    time.sleep(0.2)
    assert stub.Echo(pb2.ProbeMessage(message="after"), timeout=10).message == "after"


# --------------------------------------------------------------------------- interceptors


def test_interceptors_see_every_call(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    path = "testproject.interceptors." + ("BlockingInterceptor" if command == "grpcrunaioserver" else "SyncBlockingInterceptor")
    server = start_server(command, "127.0.0.1:0", env={"TESTPROJECT_INTERCEPTORS": path})
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    assert stub.Echo(pb2.ProbeMessage(message="ok"), timeout=10).message == "ok"
    for action in ("Echo", "SyncEcho", "DbAsync"):
        with pytest.raises(grpc.RpcError) as info:
            getattr(stub, action)(pb2.ProbeMessage(message="no"), metadata=[("x-block", "1")], timeout=10)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_wrong_interceptor_kind_is_a_clear_error(start_server):
    server = start_server("grpcrunserver", "127.0.0.1:0", ready=False, env={"TESTPROJECT_INTERCEPTORS": "testproject.interceptors.BlockingInterceptor"})
    assert server.wait(30) == 1
    assert "is not a grpc.ServerInterceptor" in server.output


def test_mutual_tls_covers_http(start_server, tls_dir):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0",
                          env={"TESTPROJECT_TLS_DIR": str(tls_dir), "TESTPROJECT_MTLS": "1"})
    url = f"https://127.0.0.1:{server.http_port}/hello/"
    anonymous = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, verify=anonymous, timeout=10)
    with_cert = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    with_cert.load_cert_chain(str(tls_dir / "client.crt"), str(tls_dir / "client.key"))
    assert httpx.get(url, verify=with_cert, timeout=10).text == "hello from django"
