"""Helpers of the observability tests: a scrape of /metrics read with prometheus-client's own
parser, and the series of the test project's services."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

PROBE = "testproject.testapp.ProbeServiceController"
HEALTH = "grpc.health.v1.Health"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scrape:
    """One exposition, parsed: `scrape.value(name, **labels)` (0 when the series is absent)."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        self.samples: Samples = {}
        self.families: dict[str, Any] = {}
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def labelled(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample called `name`."""
        return [dict(labels) for sample_name, labels in self.samples if sample_name == name]

    def rpc(self, name: str, method: str, grpc_type: str = "unary", service: str = PROBE, **labels: str) -> float:
        """A `grpc_server_*` series of one method."""
        return self.value(name, grpc_type=grpc_type, grpc_service=service, grpc_method=method, **labels)


_CLIENT: httpx.Client | None = None


def client() -> httpx.Client:
    """One HTTP client for the module's requests (a new httpx client costs a good part of a second)."""
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = httpx.Client(timeout=10)
    return _CLIENT


def scrape(url: str, **kwargs: Any) -> Scrape:
    response = client().get(url, **kwargs)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


@pytest.fixture(autouse=True)
def _close_client():
    """Its connections end with the test, so that no server waits for them to stop."""
    yield
    global _CLIENT
    if _CLIENT is not None:
        _CLIENT.close()
        _CLIENT = None
