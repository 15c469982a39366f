"""The test project with the OpenTelemetry recipe (tests/observability/telemetry.py): the grpc
instrumentation's server interceptor of the command's backend in SERVER_INTERCEPTORS."""
import os

from opentelemetry.instrumentation.grpc import aio_server_interceptor, server_interceptor
from testproject.settings import *  # noqa: F403
from testproject.settings import GRPC_FRAMEWORK, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.observability.telemetry.TelemetryConfig"]
_interceptor = server_interceptor() if os.environ.get("OTEL_TEST_BACKEND") == "threads" else aio_server_interceptor()
GRPC_FRAMEWORK = {**GRPC_FRAMEWORK, "SERVER_INTERCEPTORS": [_interceptor]}
