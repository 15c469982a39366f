"""`Options`: what was asked for, unresolved; the one home of defaults; argparse reads them."""
from __future__ import annotations

import argparse
import dataclasses
import pickle

import pytest

from hybrid_server.options import DEFAULT_HTTP_ADDRESS, DEFAULTS, UNSET, Options, add_serving_arguments, options_from_arguments

# Fields whose default comes from settings.GRPC_FRAMEWORK when they are left alone.
FROM_SETTINGS = [
    "grpc_address", "grace", "drain_delay", "reflection", "health", "handlers_hook", "server_options",
    "interceptors", "maximum_concurrent_rpcs", "healthz_path", "readyz_path", "serve_static",
    "tls_cert_chain_pairs", "tls_root_certificates", "tls_require_client_auth",
]


def parse(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_serving_arguments(parser)
    return vars(parser.parse_args(argv))


def test_fields_taken_from_settings_are_unset_by_default():
    options = Options()
    unset = {f.name for f in dataclasses.fields(Options) if getattr(options, f.name) is UNSET}
    assert set(FROM_SETTINGS) <= unset  # (resolve() fills each of them: test_config.py)
    assert {"http_address", "backend", "max_workers", "loop", "dev", "workers", "banner"}.isdisjoint(unset)


def test_unset_is_a_sentinel_distinct_from_none_and_false():
    assert UNSET is not None and UNSET != None and UNSET != False  # noqa: E711, E712
    assert repr(UNSET) == "UNSET"
    assert Options(healthz_path=None).healthz_path is None


def test_options_are_frozen_picklable_and_replaceable():
    options = Options(grpc_address="127.0.0.1:0", grace=3.0, server_options=[("grpc.max_send_message_length", 10)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.grace = 1.0  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(options))
    assert copy == options and copy.drain_delay is UNSET  # the sentinel survives a trip to a child
    changed = options.replace(grace=5.0)
    assert (changed.grace, options.grace, changed.grpc_address) == (5.0, 3.0, "127.0.0.1:0")


def test_argparse_defaults_come_from_options():
    arguments = parse()
    assert arguments["max_workers"] == DEFAULTS.max_workers
    assert arguments["workers"] == DEFAULTS.workers
    assert arguments["loop"] == DEFAULTS.loop
    options = options_from_arguments(arguments, "aio")
    assert options == Options(backend="aio")  # nothing given: every settings-backed field UNSET


def test_given_arguments_become_options():
    arguments = parse(
        "127.0.0.1:7000", "--max-workers", "3", "--with-http", "--grace", "0", "--drain-delay", "2.5",
        "--loop", "asyncio", "--dev", "--workers", "2", "--reflection", "--access-log",
    )
    options = options_from_arguments(arguments, "threads")
    assert options == Options(
        grpc_address="127.0.0.1:7000", http_address=DEFAULT_HTTP_ADDRESS, backend="threads", max_workers=3,
        grace=0.0, drain_delay=2.5, loop="asyncio", dev=True, workers=2, reflection=True, access_log=True,
    )


def test_with_http_takes_an_address():
    assert options_from_arguments(parse("--with-http", "0.0.0.0:9000"), "aio").http_address == "0.0.0.0:9000"
    assert options_from_arguments(parse(), "aio").http_address is None


def test_a_zero_grace_is_a_value_not_unset():
    assert options_from_arguments(parse("--grace", "0"), "aio").grace == 0.0
