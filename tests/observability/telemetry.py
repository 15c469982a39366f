"""The OpenTelemetry recipe of docs/observability.md, as the test project applies it (an app
whose `ready()` sets up tracing in every serving process), with an in-memory exporter behind a
batch processor: spans are kept in memory until the processor exports them (here, only when
the process stops), then written to `$OTEL_TEST_SPANS/spans-<pid>.json` for the test to read."""
from __future__ import annotations

import json
import os

from django.apps import AppConfig
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class DumpedAtShutdown(InMemorySpanExporter):
    """An in-memory exporter that writes what it was given when the provider shuts down (atexit)."""

    def shutdown(self) -> None:
        directory = os.environ.get("OTEL_TEST_SPANS")
        if directory:
            spans = [json.loads(span.to_json()) for span in self.get_finished_spans()]
            with open(os.path.join(directory, f"spans-{os.getpid()}.json"), "w") as file:
                json.dump(spans, file)
        super().shutdown()


class TelemetryConfig(AppConfig):
    name = "tests.observability.telemetry"
    label = "observability_telemetry"

    def ready(self) -> None:
        from opentelemetry import trace
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "testproject"}))  # shutdown at exit
        # A long delay: nothing is exported while serving, so what the test reads came at the stop.
        provider.add_span_processor(BatchSpanProcessor(DumpedAtShutdown(), schedule_delay_millis=600_000))
        trace.set_tracer_provider(provider)
        DjangoInstrumentor().instrument()
