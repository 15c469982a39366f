import pytest

from hybrid_server.config import Config, ConfigError, parse_address


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


@pytest.mark.parametrize("text", ["", "host:port", "1.2.3.4:70000", "[::1", "a:b:c"])
def test_bad_addresses_are_named(text):
    with pytest.raises(ConfigError, match="gRPC"):
        parse_address(text, 9, "gRPC")


def test_resolve_fills_from_settings(settings):
    settings.GRPC_FRAMEWORK = {"GRPC_CHANNEL_PORT": 6001, "GRACE_PERIOD": 3, "ROOT_HANDLERS_HOOK": "testproject.handlers.grpc_handlers"}
    config = Config(http_address="127.0.0.1:0").resolve()
    assert (config.grpc_host, config.grpc_port) == ("[::]", 6001)
    assert (config.http_host, config.http_port) == ("127.0.0.1", 0)
    assert config.grace == 3.0 and config.drain_delay == 0.0
    assert config.health is True and config.reflection is False
    assert config.handlers_hook == "testproject.handlers.grpc_handlers"


@pytest.mark.parametrize("field, value", [("grace", -1), ("max_workers", 0), ("workers", 0), ("loop", "trio"), ("backend", "gevent")])
def test_bad_values(settings, field, value):
    settings.GRPC_FRAMEWORK = {"ROOT_HANDLERS_HOOK": "testproject.handlers.grpc_handlers"}
    with pytest.raises(ConfigError, match=field):
        Config(**{field: value}).resolve()
