"""A settings file written for django-socio-grpc 0.25 loads unchanged: every key of its settings
page is accepted with its documented default and readable from `grpc_settings`; keys of features
this project does not have warn (system check django_socio_grpc.W001) when changed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from django.core import checks
from django.test import override_settings

from django_socio_grpc.settings import FilterAndPaginationBehaviorOptions, grpc_settings
from hybrid_server.testing import LiveServer

ROOT = Path(__file__).resolve().parents[2]
HOOK = "testproject.handlers.grpc_handlers"

# The block of django-socio-grpc 0.25's settings page, as a user copies it (its defaults).
DOCUMENTED = {
    "ROOT_HANDLERS_HOOK": None,
    "SERVER_INTERCEPTORS": None,
    "SERVER_OPTIONS": None,
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_FILTER_BACKENDS": [],
    "DEFAULT_PAGINATION_CLASS": None,
    "DEFAULT_PERMISSION_CLASSES": [],
    "GRPC_ASYNC": False,
    "GRPC_CHANNEL_PORT": 50051,
    "SEPARATE_READ_WRITE_MODEL": True,
    "GRPC_MIDDLEWARE": [
        "django_socio_grpc.middlewares.log_requests_middleware",
        "django_socio_grpc.middlewares.close_old_connections_middleware",
    ],
    "ROOT_GRPC_FOLDER": "grpc_folder",
    "MAP_METADATA_KEYS": {"headers": "headers", "pagination": "pagination", "filters": "filters"},
    "LOG_OK_RESPONSE": False,
    "IGNORE_LOG_FOR_ACTION": [],
    "ROOT_CERTIFICATES_PATH": None,
    "PRIVATE_KEY_CERTIFICATE_CHAIN_PAIRS_PATH": [],
    "REQUIRE_CLIENT_AUTH": False,
    "FILTER_BEHAVIOR": "METADATA_STRICT",
    "PAGINATION_BEHAVIOR": "METADATA_STRICT",
    "DEFAULT_MESSAGE_NAME_CONSTRUCTOR": "django_socio_grpc.protobuf.message_name_constructor.DefaultMessageNameConstructor",
    "DEFAULT_GENERATION_PLUGINS": [],
    "ENABLE_HEALTH_CHECK": False,
    # In django-socio-grpc's defaults (deprecated there), not on the page's block.
    "LOG_EXTRA_CONTEXT_FUNCTION": "django_socio_grpc.log.default_get_log_extra_context",
}
# Where reading differs from the block: None for a list means the empty list; the hook's None
# means `ROOT_URLCONF.grpc_handlers` (imported); health checks are on by default here.
READ_AS = {"SERVER_INTERCEPTORS": [], "SERVER_OPTIONS": [], "ENABLE_HEALTH_CHECK": True}


def w001() -> list[str]:
    return [message.msg for message in checks.run_checks() if message.id == "django_socio_grpc.W001"]


def test_every_key_of_the_settings_page_reads_with_its_default():
    with override_settings(GRPC_FRAMEWORK={"ROOT_HANDLERS_HOOK": HOOK}):
        for key, documented in DOCUMENTED.items():
            if key == "ROOT_HANDLERS_HOOK":
                continue
            assert getattr(grpc_settings, key) == READ_AS.get(key, documented), key
        assert grpc_settings.GRPC_ASYNC is False
        assert grpc_settings.FILTER_BEHAVIOR is FilterAndPaginationBehaviorOptions.METADATA_STRICT
        assert w001() == []


def test_filter_and_pagination_behavior_options():
    assert [option.value for option in FilterAndPaginationBehaviorOptions] == [
        "METADATA_STRICT", "REQUEST_STRUCT_STRICT", "METADATA_AND_REQUEST_STRUCT"
    ]
    assert FilterAndPaginationBehaviorOptions.REQUEST_STRUCT_STRICT == "REQUEST_STRUCT_STRICT"  # a str enum


@pytest.mark.parametrize("backend", ["aio", "threads"])
def test_the_documented_block_loads_and_serves(pb, backend):
    framework = {**DOCUMENTED, "ROOT_HANDLERS_HOOK": HOOK, "GRPC_ASYNC": backend == "aio"}
    with override_settings(GRPC_FRAMEWORK=framework):
        for key in DOCUMENTED:
            getattr(grpc_settings, key)  # every key readable, none unknown
        assert grpc_settings.SERVER_INTERCEPTORS == [] and grpc_settings.SERVER_OPTIONS == []
        with LiveServer(backend=backend) as live:
            stub = pb[1].ProbeServiceControllerStub(live.channel())
            assert stub.Echo(pb[0].ProbeMessage(message="hi"), timeout=10).message == "hi"
            with pytest.raises(grpc.RpcError):  # ENABLE_HEALTH_CHECK False, as written
                live.channel().unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=10)


def test_keys_without_effect_warn_only_when_changed():
    changed = {
        "GRPC_ASYNC": True,
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "FILTER_BEHAVIOR": FilterAndPaginationBehaviorOptions.REQUEST_STRUCT_STRICT,
        "PAGINATION_BEHAVIOR": "METADATA_AND_REQUEST_STRUCT",
        "MAP_METADATA_KEYS": {"filters": "my_filters"},
        "SEPARATE_READ_WRITE_MODEL": False,
    }
    unchanged = {
        "DEFAULT_FILTER_BACKENDS": [],
        "ROOT_GRPC_FOLDER": "grpc_folder",
        "FILTER_BEHAVIOR": "METADATA_STRICT",
        "MAP_METADATA_KEYS": {"headers": "headers"},  # partly given: merged with the defaults
    }
    with override_settings(GRPC_FRAMEWORK={"ROOT_HANDLERS_HOOK": HOOK, **unchanged}):
        assert w001() == []
        assert grpc_settings.MAP_METADATA_KEYS == DOCUMENTED["MAP_METADATA_KEYS"]
    with override_settings(GRPC_FRAMEWORK={"ROOT_HANDLERS_HOOK": HOOK, **changed}):
        messages = w001()
        assert sorted(message.split("'")[1] for message in messages) == sorted(changed)
        assert all("has no effect in this server" in message for message in messages)
        (server,) = [message for message in messages if "'GRPC_ASYNC'" in message]
        assert "grpcrunaioserver" in server  # says what does choose the server
        assert grpc_settings.GRPC_ASYNC is True  # readable as written
        assert grpc_settings.MAP_METADATA_KEYS == {"headers": "headers", "pagination": "pagination", "filters": "my_filters"}


def test_a_django_socio_grpc_settings_module_loads_unchanged(tmp_path):
    """The module imports the enum before Django is configured, as the settings page shows."""
    (tmp_path / "dsg_settings.py").write_text(
        "from testproject.settings import *  # noqa\n"
        "from django_socio_grpc.settings import FilterAndPaginationBehaviorOptions\n"
        f"GRPC_FRAMEWORK = {{**{DOCUMENTED!r}, 'ROOT_HANDLERS_HOOK': {HOOK!r}, 'GRPC_ASYNC': True,\n"
        "    'FILTER_BEHAVIOR': FilterAndPaginationBehaviorOptions.REQUEST_STRUCT_STRICT}\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dsg_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "tests" / "testproject"), str(ROOT)]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "django", "check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "django_socio_grpc.W001" in output
    assert "GRPC_FRAMEWORK['GRPC_ASYNC'] has no effect" in output
    assert "GRPC_FRAMEWORK['FILTER_BEHAVIOR'] has no effect" in output
    assert output.count("django_socio_grpc.W001") == 2
