"""`ServerMetrics`: the metrics of one serving process, and the scrape that exposes them.

One process: the server's own registry (its gRPC, HTTP and state series) followed by
prometheus-client's default registry, so the process figures (`process_*`, `python_gc_*`,
`python_info`) and whatever the project records with prometheus-client's module-level API
appear on the same page. Multiprocess mode (`--workers`): every process's files, summed
(in-flight and state gauges over live workers only), and the process figures of each live
worker labelled with its `pid`.
"""
from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
import prometheus_client
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Sample

from hybrid_server.lifecycle import Lifecycle, State
from hybrid_server.metrics import multiprocess
from hybrid_server.metrics.grpc_calls import GrpcMetrics
from hybrid_server.metrics.http_requests import HttpMetrics


class _Chained:
    """Several registries read as one."""

    def __init__(self, *registries: Any) -> None:
        self.registries = registries

    def collect(self) -> Iterator[Metric]:
        for registry in self.registries:
            yield from registry.collect()


class WorkerProcesses:
    """`process_*` of every live worker, each sample labelled with its pid (Linux /proc)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for pid in multiprocess.live_pids(self.path):
            collector = prometheus_client.ProcessCollector(pid=lambda pid=pid: pid, registry=None)  # type: ignore[misc]
            for family in collector.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                for sample in family.samples:
                    labels = {**sample.labels, "pid": str(pid)}
                    merged.samples.append(Sample(sample.name, labels, sample.value, sample.timestamp, sample.exemplar))
        yield from families.values()


class ServerMetrics:
    """Created by `HybridServer` when metrics are on; `grpc` and `http` go to the two sides."""

    def __init__(self, lifecycle: Lifecycle, path: str, standalone: bool = True) -> None:
        self.path = path
        directory = multiprocess.directory()
        self.multiprocess = directory is not None
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
            if standalone:  # no supervisor prepared it: what an earlier run left would be summed in
                multiprocess.wipe(directory, keep_pid=os.getpid())
        own = None if self.multiprocess else CollectorRegistry()
        self.grpc = GrpcMetrics(own)
        self.http = HttpMetrics(own)
        state = Gauge(
            "hybrid_server_state", "1 for the state the server is in (with --workers: how many workers are in it).",
            ("state",), registry=own, multiprocess_mode="livesum")
        self._states = {each: state.labels(each.value) for each in State}
        self._set_state(lifecycle.state)
        lifecycle.watchers.append(self._set_state)
        self.source: Any
        if directory is not None:
            self.source = CollectorRegistry()
            MultiProcessCollector(self.source, path=directory)
            self.source.register(WorkerProcesses(directory))
            prometheus_client.PlatformCollector(registry=self.source)
        else:
            self.source = _Chained(own, prometheus_client.REGISTRY)

    def _set_state(self, current: State) -> None:
        for each, child in self._states.items():
            child.set(1 if each is current else 0)

    def render(self, accept: str = "", accept_encoding: str = "") -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The exposition (OpenMetrics when the scraper asks for it, gzip when it accepts it)."""
        encoder, content_type = choose_encoder(accept)
        body = encoder(self.source)
        headers = [(b"content-type", content_type.encode("latin-1"))]
        if "gzip" in accept_encoding:
            body = gzip.compress(body, compresslevel=5)
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        return body, headers

    async def respond(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """The scrape, as an ASGI response."""
        if scope.get("method") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405,
                        "headers": [(b"allow", b"GET, HEAD"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = {name.lower(): value for name, value in scope.get("headers", ())}
        # Rendering takes milliseconds per hundred series: in a thread, so the loop keeps serving.
        body, response_headers = await anyio.to_thread.run_sync(
            self.render, headers.get(b"accept", b"").decode("latin-1"), headers.get(b"accept-encoding", b"").decode("latin-1"))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
