"""--metrics / ENABLE_METRICS / METRICS_PATH: resolved once, refused with a clear reason; the
multiprocess directory of `--workers` prepared and cleaned."""
from __future__ import annotations

import os

import pytest
from django.test import override_settings

from hybrid_server import metrics as prometheus
from hybrid_server.config import ConfigError, resolve
from hybrid_server.metrics import multiprocess
from hybrid_server.options import UNSET, Options, options_from_arguments
from tests.engine.test_options import parse


def test_off_by_default_and_on_from_the_command_line_or_the_settings():
    assert Options().metrics is UNSET and resolve(Options()).metrics is False
    assert options_from_arguments(parse("--metrics"), "aio").metrics is True
    assert options_from_arguments(parse("--no-metrics"), "aio").metrics is False
    assert options_from_arguments(parse(), "aio").metrics is UNSET
    config = resolve(Options(metrics=True, http_address="127.0.0.1:0"))
    assert (config.metrics, config.metrics_path) == (True, "/metrics")
    with override_settings(GRPC_FRAMEWORK={"ENABLE_METRICS": True, "METRICS_PATH": "/-/metrics"}):
        config = resolve(Options(probe_address="127.0.0.1:0"))
        assert (config.metrics, config.metrics_path) == (True, "/-/metrics")
        assert resolve(Options(metrics=False)).metrics is False  # --no-metrics wins over the settings


def test_metrics_need_a_listener_and_a_path_of_their_own():
    with pytest.raises(ConfigError, match=r"no HTTP listener to serve /metrics on; add --with-http ADDR, or --probe-address"):
        resolve(Options(metrics=True))  # gRPC only
    with pytest.raises(ConfigError, match="METRICS_PATH must be a path starting with '/'"):
        resolve(Options(metrics=True, http_address="127.0.0.1:0", metrics_path="metrics"))
    with pytest.raises(ConfigError, match="also a probe path"):
        resolve(Options(metrics=True, http_address="127.0.0.1:0", metrics_path="/healthz"))


def test_without_prometheus_client_the_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(prometheus, "available", lambda: False)
    with pytest.raises(ConfigError) as error:
        resolve(Options(metrics=True, http_address="127.0.0.1:0"))
    assert "pip install 'hybrid-server[metrics]'" in str(error.value)
    assert resolve(Options(http_address="127.0.0.1:0")).metrics is False  # off: not needed


def test_the_workers_directory_is_wiped_handed_on_and_removed(tmp_path, monkeypatch):
    given = tmp_path / "given"
    given.mkdir()
    for name in ("counter_4242.db", "gauge_livesum_4242.db", f"counter_{os.getpid()}.db", "notes.txt"):
        (given / name).write_text("")
    monkeypatch.setenv(multiprocess.ENV, str(given))
    workers = multiprocess.WorkersDirectory()
    # An earlier run's values are gone (they would be summed in); this process's own may be open.
    assert sorted(path.name for path in given.iterdir()) == [f"counter_{os.getpid()}.db", "notes.txt"]
    workers.close()
    assert given.is_dir() and os.environ[multiprocess.ENV] == str(given)  # the user's: kept

    monkeypatch.delenv(multiprocess.ENV)
    workers = multiprocess.WorkersDirectory()
    made = workers.path
    assert os.environ[multiprocess.ENV] == made and os.path.isdir(made)  # the workers inherit it
    open(os.path.join(made, "gauge_livesum_17.db"), "w").close()
    open(os.path.join(made, "gauge_livesum_18.db"), "w").close()
    assert multiprocess.live_pids(made) == [17, 18]
    workers.worker_exited(17)  # prometheus-client's mark_process_dead: its live gauges go
    assert multiprocess.live_pids(made) == [18]
    workers.close()
    assert not os.path.exists(made) and multiprocess.ENV not in os.environ
