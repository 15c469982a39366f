"""The collector around start-up (hybrid_server/collector.py): no automatic collection of the two
older generations from the app's import (serving commands only) or `run()` until serving, then
what start-up made frozen, without a collection first, and the thresholds as they were."""
from __future__ import annotations

import gc
import importlib
import sys

import pytest

import django_socio_grpc
from hybrid_server import collector

DEFERRED = 1_000_000


@pytest.fixture
def thresholds():
    """Every test leaves the collector as it found it (the suite's own workers collect normally)."""
    saved = gc.get_threshold()
    collector.resume()
    yield saved
    collector.resume()
    gc.set_threshold(*saved)
    gc.unfreeze()


@pytest.mark.parametrize("command", ["grpcrunaioserver", "grpcrunserver"])
def test_the_app_defers_full_collections_for_a_serving_command(thresholds, monkeypatch, command):
    monkeypatch.setattr(sys, "argv", ["manage.py", command, "127.0.0.1:0"])
    importlib.reload(django_socio_grpc)  # as `manage.py` imports it during django.setup()
    assert gc.get_threshold() == (thresholds[0], DEFERRED, DEFERRED)
    collector.resume()
    assert gc.get_threshold() == thresholds


@pytest.mark.parametrize("argv", [["manage.py", "migrate"], ["manage.py", "shell", "grpcrunaioserver"],
                                  ["pytest"], ["manage.py"]])
def test_other_commands_collect_as_usual(thresholds, monkeypatch, argv):
    monkeypatch.setattr(sys, "argv", argv)
    importlib.reload(django_socio_grpc)
    assert gc.get_threshold() == thresholds


def test_deferring_twice_keeps_the_first_thresholds(thresholds):
    collector.defer_full_collections()
    collector.defer_full_collections()  # the app's import, then run()
    assert gc.get_threshold()[1:] == (DEFERRED, DEFERRED)
    collector.resume()
    assert gc.get_threshold() == thresholds


def test_settle_freezes_the_survivors_and_resumes(thresholds):
    collector.defer_full_collections()
    before = gc.get_freeze_count()
    survivors = [[] for _ in range(1000)]  # long-lived start-up objects
    collector.settle()
    assert gc.get_freeze_count() >= before + len(survivors)
    assert gc.get_threshold() == thresholds


def test_settle_does_not_collect_on_the_way_to_the_first_answer(thresholds):
    """A collection there walked every start-up object (~10 ms) to free a few dozen; the few
    garbage objects are frozen with the rest instead."""
    collections: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    collector.defer_full_collections()
    garbage = [[]]
    garbage[0].append(garbage)  # a cycle made at start-up, unreachable from here on
    del garbage
    gc.callbacks.append(record)
    try:
        collector.settle()
    finally:
        gc.callbacks.remove(record)
    assert collections == []
    assert gc.get_threshold() == thresholds
