"""`resolve(options)` -> a frozen `Config`: defaults from settings, every value checked once."""
from __future__ import annotations

import dataclasses

import pytest
from testproject.interceptors import BlockingInterceptor

import hybrid_server
from hybrid_server.config import Config, ConfigError, parse_address, resolve
from hybrid_server.options import UNSET, Options

HOOK = "testproject.handlers.grpc_handlers"


@pytest.fixture
def grpc_framework(settings):
    """Set settings.GRPC_FRAMEWORK for one test (the reader follows override_settings)."""

    def set_(**values):
        settings.GRPC_FRAMEWORK = {"ROOT_HANDLERS_HOOK": HOOK, **values}

    return set_


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("[::]:0", ("[::]", 0)),
        ("[::1]", ("[::1]", 9)),
        ("localhost", ("localhost", 9)),
        (":7000", ("[::]", 7000)),
        ("7000", ("[::]", 7000)),
        ("::1", ("[::1]", 9)),
    ],
)
def test_parse_address(text, expected):
    assert parse_address(text, 9, "gRPC") == expected


def test_http_addresses_default_to_ipv4_any():
    assert parse_address("8001", 8000, "HTTP") == ("0.0.0.0", 8001)
    assert parse_address(":8001", 8000, "HTTP") == ("0.0.0.0", 8001)


@pytest.mark.parametrize("text", ["", "host:port", "1.2.3.4:70000", "[::1", "a:b:c", "[::1]x"])
def test_bad_addresses_are_named(text):
    with pytest.raises(ConfigError, match="gRPC"):
        parse_address(text, 9, "gRPC")


# --------------------------------------------------------------------------- defaults


def test_resolve_fills_from_settings(grpc_framework):
    grpc_framework(GRPC_CHANNEL_PORT=6001, GRACE_PERIOD=3)
    config = resolve(Options(http_address="127.0.0.1:0"))
    assert (config.grpc_host, config.grpc_port) == ("[::]", 6001)
    assert (config.http_host, config.http_port) == ("127.0.0.1", 0)
    assert config.with_http and config.grpc_address == "[::]:6001"
    assert config.grace == 3.0 and config.drain_delay == 0.0
    assert config.health is True and config.reflection is False
    assert config.handlers_hook == HOOK  # imported by the gRPC side, not here
    assert config.server_options == () and config.interceptors == ()
    assert config.maximum_concurrent_rpcs is None and config.tls is None
    assert (config.healthz_path, config.readyz_path) == ("/healthz", "/readyz")
    assert config.serve_static is False  # DEBUG is off in the test settings


def test_resolve_leaves_nothing_unset(grpc_framework):
    grpc_framework()
    config = resolve(Options(http_address="127.0.0.1:0"))
    assert [f.name for f in dataclasses.fields(Config) if getattr(config, f.name) is UNSET] == []


def test_documented_defaults_without_settings(settings):
    settings.GRPC_FRAMEWORK = {}
    config = resolve(Options())
    assert (config.grpc_host, config.grpc_port) == ("[::]", 50051)
    assert (config.grace, config.drain_delay) == (10.0, 0.0)
    assert config.http_host is None and not config.with_http
    assert config.handlers_hook == f"{settings.ROOT_URLCONF}.grpc_handlers"
    assert (config.backend, config.max_workers, config.workers, config.loop) == ("aio", 10, 1, "auto")


def test_options_win_over_settings(grpc_framework):
    grpc_framework(GRACE_PERIOD=3, DRAIN_DELAY=2, ENABLE_REFLECTION=False, SERVER_OPTIONS=[("grpc.a", 1)],
                   MAXIMUM_CONCURRENT_RPCS=5, HEALTHZ_PATH="/h")
    config = resolve(Options(grace=0, drain_delay=0.5, reflection=True, server_options=[("grpc.b", "x")],
                             maximum_concurrent_rpcs=7, healthz_path="/alive", handlers_hook=print))
    assert (config.grace, config.drain_delay, config.reflection) == (0.0, 0.5, True)
    assert config.server_options == (("grpc.b", "x"),)
    assert config.maximum_concurrent_rpcs == 7 and config.healthz_path == "/alive"
    assert config.handlers_hook is print


def test_none_is_a_value_and_unset_is_not(grpc_framework):
    grpc_framework(MAXIMUM_CONCURRENT_RPCS=5, HEALTHZ_PATH="/h", READYZ_PATH="/r")
    left_alone = resolve(Options())
    assert (left_alone.maximum_concurrent_rpcs, left_alone.healthz_path, left_alone.readyz_path) == (5, "/h", "/r")
    turned_off = resolve(Options(maximum_concurrent_rpcs=None, healthz_path=None, readyz_path=None))
    assert (turned_off.maximum_concurrent_rpcs, turned_off.healthz_path, turned_off.readyz_path) == (None, None, None)


def test_interceptors_from_settings_are_imported_and_instantiated(grpc_framework):
    grpc_framework(SERVER_INTERCEPTORS=["testproject.interceptors.BlockingInterceptor"])
    (interceptor,) = resolve(Options()).interceptors
    assert isinstance(interceptor, BlockingInterceptor)


def test_tls_from_options_or_settings(grpc_framework):
    grpc_framework(PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH=[("k.pem", "c.pem")], ROOT_CERTIFICATES_PATH="ca.pem",
                   REQUIRE_CLIENT_AUTH=True)
    tls = resolve(Options(http_address="127.0.0.1:0")).tls
    assert tls is not None
    assert (tls.cert_chain_pairs, tls.root_certificates, tls.require_client_auth) == ((("k.pem", "c.pem"),), "ca.pem", True)
    config = resolve(Options(http_address="127.0.0.1:0", tls_root_certificates=None, tls_require_client_auth=False))
    assert config.tls is not None and config.tls.root_certificates is None and not config.tls.require_client_auth
    assert config.http_over_tls
    assert not resolve(Options(http_address="127.0.0.1:0", http_tls=False)).http_over_tls
    assert resolve(Options(tls_cert_chain_pairs=[])).tls is None


def test_loop_choice():
    pytest.importorskip("uvloop")
    assert resolve(Options(loop="uvloop")).use_uvloop is True
    assert resolve(Options(loop="auto")).use_uvloop is True
    assert resolve(Options(loop="asyncio")).use_uvloop is False


def test_config_is_frozen_and_keeps_the_options():
    options = Options(grpc_address="127.0.0.1:0")
    config = resolve(options)
    assert isinstance(config, Config) and config.options is options
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.grace = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    "field, value",
    [
        ("grace", -1), ("drain_delay", -0.5), ("max_workers", 0), ("max_workers", "4"), ("workers", 0),
        ("loop", "trio"), ("backend", "gevent"), ("maximum_concurrent_rpcs", 0),
    ],
)
def test_bad_values(grpc_framework, field, value):
    grpc_framework()
    with pytest.raises(ConfigError, match=field if field != "maximum_concurrent_rpcs" else "MAXIMUM_CONCURRENT_RPCS"):
        resolve(Options(**{field: value}))


def test_bad_address_is_named(grpc_framework):
    grpc_framework()
    with pytest.raises(ConfigError, match="HTTP"):
        resolve(Options(http_address="localhost:http"))


def test_bad_tls_pair(grpc_framework):
    grpc_framework()
    with pytest.raises(ConfigError, match="PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH"):
        resolve(Options(tls_cert_chain_pairs=["server.pem"]))  # type: ignore[list-item]


BAD_SERVER_OPTIONS = [
    # (SERVER_OPTIONS, what the message names)
    (5, r" must be a list of \(name, value\) pairs, got 5"),
    ("grpc.max_send_message_length", r" must be a list of \(name, value\) pairs"),
    ([("grpc.ok", 1), 5], r"\[1\] must be a \(name, value\) pair .*got 5"),
    ([None], r"\[0\] must be a \(name, value\) pair .*got None"),
    (["grpc.max_send_message_length"], r"\[0\] must be a \(name, value\) pair .*got 'grpc.max_send_message_length'"),
    ([("grpc.a", 1, 2)], r"\[0\] must be a \(name, value\) pair .*got \('grpc.a', 1, 2\)"),
    ([(1, 2)], r"\[0\] must be a \(name, value\) pair .*got \(1, 2\)"),
    ([("grpc.a", 1.5)], r"\[0\] 'grpc.a': the value must be an int or a string, got 1.5"),
]


@pytest.mark.parametrize("entries, message", BAD_SERVER_OPTIONS)
def test_bad_server_options_name_the_entry(grpc_framework, entries, message):
    grpc_framework(SERVER_OPTIONS=entries)
    with pytest.raises(ConfigError, match=r"GRPC_FRAMEWORK\['SERVER_OPTIONS'\]" + message):
        resolve(Options())
    with pytest.raises(ConfigError, match=r"^server_options" + message):
        resolve(Options(server_options=entries))


@pytest.fixture
def never_serve(monkeypatch):
    """run() must stop at the configuration: serving would block the test."""

    def serve(config, *args):
        pytest.fail(f"run() went on to serve with {config.server_options!r}")

    monkeypatch.setattr("hybrid_server.main.serve", serve)


@pytest.mark.parametrize("entries, message", BAD_SERVER_OPTIONS[:3] + BAD_SERVER_OPTIONS[-1:])
def test_bad_server_options_through_run_are_one_error_line(grpc_framework, never_serve, capsys, entries, message):
    grpc_framework()
    assert hybrid_server.run(grpc_address="127.0.0.1:0", server_options=entries) == hybrid_server.EXIT_FAILURE
    grpc_framework(SERVER_OPTIONS=entries)
    assert hybrid_server.run(grpc_address="127.0.0.1:0") == hybrid_server.EXIT_FAILURE
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and all(line.startswith("Error: ") for line in lines), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert "server_options" in lines[0] and "GRPC_FRAMEWORK['SERVER_OPTIONS']" in lines[1]


def test_bad_value_through_run_is_one_error_line(grpc_framework, never_serve, capsys):
    grpc_framework()
    assert hybrid_server.run(grpc_address="127.0.0.1:0", max_workers=0) == hybrid_server.EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.splitlines() == ["Error: max_workers must be an integer >= 1, got 0"]
