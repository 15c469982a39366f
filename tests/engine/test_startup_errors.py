"""Start-up errors say what is wrong and where: which TLS file, which address."""
import subprocess

import pytest

from hybrid_server.testing import LiveServer, LiveServerError


def _no_services(server):
    """Nothing to register: these servers never get to serve."""


@pytest.fixture(scope="module")
def pems(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pems")
    for name in ("one", "two"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", "2", "-subj", "/CN=localhost"],
            cwd=directory, check=True, capture_output=True, timeout=60,
        )
    (directory / "garbage.pem").write_text("this is not PEM\n")
    return directory


def _start_error(capsys, **options) -> str:
    with pytest.raises(LiveServerError):
        LiveServer(handlers_hook=_no_services, **options).start()
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize(
    "key, cert, expected",
    [
        ("one.key", "garbage.pem", "TLS certificate chain '{dir}/garbage.pem' is not a PEM certificate"),
        ("garbage.pem", "one.crt", "TLS private key '{dir}/garbage.pem' is not a PEM private key"),
        ("two.key", "one.crt", "TLS private key '{dir}/two.key' does not match the certificate '{dir}/one.crt'"),
    ],
)
def test_bad_tls_files_are_named(pems, capsys, key, cert, expected):
    pairs = [(str(pems / key), str(pems / cert))]
    assert expected.format(dir=pems) in _start_error(capsys, tls_cert_chain_pairs=pairs)


def test_bad_root_certificates_are_named(pems, capsys):
    pairs = [(str(pems / "one.key"), str(pems / "one.crt"))]
    error = _start_error(capsys, tls_cert_chain_pairs=pairs, tls_root_certificates=str(pems / "garbage.pem"))
    assert f"TLS root certificates '{pems}/garbage.pem' are not valid PEM certificates" in error


@pytest.mark.parametrize(
    "address, expected",
    [
        ("no-such-host.invalid:0", "'no-such-host.invalid' is neither an IP address nor a host name that resolves"),
        ("192.0.2.1:0", "'192.0.2.1' is not an address of this machine"),
    ],
)
def test_bad_grpc_hosts_are_explained(capsys, address, expected):
    assert expected in _start_error(capsys, grpc_address=address)


def test_busy_grpc_port_says_in_use(capsys):
    with LiveServer(handlers_hook=_no_services) as first:
        error = _start_error(capsys, grpc_address=first.grpc_target)
    assert f"cannot bind gRPC to {first.grpc_target}: address in use" in error
